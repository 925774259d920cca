package helm_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudlb/cloudlb/controllers/ingress"
	"github.com/cloudlb/cloudlb/test"
)

var _ = Describe("The cloudlb chart", func() {
	It("passes helm lint --strict", func() {
		out, err := helm("lint", "charts/cloudlb", "--strict", "--set", "clusterName=lint")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("0 chart(s) failed"))
	})

	It("documents in the README exactly the install commands these specs run", func() {
		Expect(readmeInstallCommands()).To(Equal([]string{installIRSA, install}))
	})

	It("prints NOTES that check the controller and create a first Ingress the API server accepts", func() {
		// A client-side dry run renders NOTES.txt; helm still asks the API server for its version.
		out, err := helm(append(shellWords(install)[1:], "--dry-run=client", "--kubeconfig", writeKubeconfig(""))...)
		Expect(err).NotTo(HaveOccurred())
		_, notes, found := strings.Cut(out, "\nNOTES:\n")
		Expect(found).To(BeTrue(), "no NOTES in:\n%s", out)
		Expect(notes).To(ContainSubstring("kubectl -n cloudlb-system rollout status deployment/cloudlb\n"))

		_, manifest, _ := strings.Cut(notes, "<<'YAML'\n")
		manifest, _, found = strings.Cut(manifest, "\n  YAML\n")
		Expect(found).To(BeTrue(), "no Ingress manifest in NOTES:\n%s", notes)
		objs, err := test.DecodeYAML([]byte(strings.ReplaceAll("\n"+manifest, "\n  ", "\n")))
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(1))
		Expect(field(objs[0], "spec", "ingressClassName")).To(Equal("cloudlb"))
		objs[0].SetNamespace("default")
		Expect(k8s.Create(context.Background(), objs[0], client.DryRunAll)).To(Succeed())
	})

	It("carries the same RBAC rules and CRDs as config/, which controller-gen generates", func() {
		var role rbacv1.ClusterRole
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(named(render(install), "ClusterRole", "cloudlb").Object, &role)).To(Succeed())
		data, err := os.ReadFile(filepath.Join(test.RepoRoot(), "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		generatedObjs, err := test.DecodeYAML(data)
		Expect(err).NotTo(HaveOccurred())
		var generated rbacv1.ClusterRole
		one(generatedObjs, "ClusterRole", &generated)
		Expect(role.Rules).To(Equal(generated.Rules), "run `make manifests`")

		bases, err := filepath.Glob(filepath.Join(test.RepoRoot(), "config", "crd", "bases", "cloudlb.io_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		bases = append(bases, filepath.Join(test.RepoRoot(), "config", "crd", "bases", "elbv2.k8s.aws_targetgroupbindings.yaml"))
		chartCRDs, err := filepath.Glob(filepath.Join(test.RepoRoot(), "charts", "cloudlb", "crds", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(chartCRDs).To(HaveLen(len(bases)), "run `make manifests`")
		for _, base := range bases {
			want, err := os.ReadFile(base)
			Expect(err).NotTo(HaveOccurred())
			got, err := os.ReadFile(filepath.Join(test.RepoRoot(), "charts", "cloudlb", "crds", filepath.Base(base)))
			Expect(err).NotTo(HaveOccurred(), "run `make manifests`")
			Expect(string(got)).To(Equal(string(want)), "run `make manifests`")
		}

		// The IngressClassParams CRD is a template (installed only when absent); it renders as generated, plus
		// the annotation that keeps it on uninstall.
		data, err = os.ReadFile(filepath.Join(test.RepoRoot(), "config", "crd", "bases", "elbv2.k8s.aws_ingressclassparams.yaml"))
		Expect(err).NotTo(HaveOccurred())
		want, err := test.DecodeYAML(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(want).To(HaveLen(1))
		got := named(render(install), "CustomResourceDefinition", "ingressclassparams.elbv2.k8s.aws")
		Expect(got.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		Expect(got.Object["spec"]).To(Equal(want[0].Object["spec"]), "run `make manifests`")
	})

	DescribeTable("refuses bad values with a message that says what is wrong",
		func(installCmd string, set []string, message string) {
			var args []string
			for _, s := range set {
				args = append(args, "--set", s)
			}
			_, err := template(installCmd, args...)
			Expect(err).To(MatchError(ContainSubstring(message)))
		},
		Entry("no clusterName", "helm install cloudlb charts/cloudlb", nil,
			"clusterName is required: set it to this cluster's name (--set clusterName=my-cluster)"),
		Entry("a wrong type", install, []string{"replicas=two"},
			"at '/replicas': got string, want integer"),
		Entry("an unknown top-level key", install, []string{"replicaCount=2"},
			"additional properties 'replicaCount' not allowed"),
		Entry("a tag that --default-tags cannot carry", install, []string{`defaultTags.team=a\,b`},
			"at '/defaultTags/team'"),
		Entry("an external-managed tag key cloudlb owns", install, []string{"externalManagedTags={cloudlb.io/stack}"},
			"at '/externalManagedTags/0'"),
		Entry("a target type LBC does not have", install, []string{"defaultTargetType=alb"},
			"at '/defaultTargetType'"),
		Entry("a flag that is a boolean", install, []string{"enableManageBackendSecurityGroupRules=yes"},
			"at '/enableManageBackendSecurityGroupRules'"),
		Entry("a lease duration that is not a Go duration", install, []string{"leaderElection.leaseDuration=10"},
			"at '/leaderElection/leaseDuration'"),
		Entry("replicas without leader election", install, []string{"leaderElection.enabled=false"},
			"replicas > 1 needs leaderElection.enabled=true"),
	)

	It("passes AWS settings to the controller only when they are set", func() {
		// The controller in this repository may not know these flags yet: unset values must not render them.
		Expect(controllerArgs(render(install))).NotTo(ContainElement(
			MatchRegexp(`^--(aws-|default-tags|external-managed-tags|watch-namespace|disable-ingress-group|default-target-type|adopt-lbc|enable-manage-backend)`)))

		args := controllerArgs(render(install, "--set", "region=eu-west-1,vpcId=vpc-0abc,endpointURL=http://127.0.0.1:5000",
			"--set", "awsMaxRetries=0", "--set", "defaultTags.team=platform,defaultTags.cost-center=12 34",
			"--set", "externalManagedTags={billing,owner},watchNamespace=shop,disableIngressGroupNameAnnotation=true",
			"--set", "defaultTargetType=ip", "--set", "enableManageBackendSecurityGroupRules=true"))
		Expect(args).To(ContainElements(
			"--aws-region=eu-west-1",
			"--aws-vpc-id=vpc-0abc",
			"--aws-endpoint-url=http://127.0.0.1:5000",
			"--aws-max-retries=0",
			"--default-tags=cost-center=12 34,team=platform", // sorted, so that renders are stable
			"--external-managed-tags=billing,owner",
			"--watch-namespace=shop",
			"--disable-ingress-group-name-annotation=true",
			"--default-target-type=ip",
			"--enable-manage-backend-security-group-rules",
		))
	})

	// Each value set is rendered by helm and created on the API server, which validates every object, CRDs
	// included; then the objects the server stored are checked for what the value set is for.
	DescribeTable("renders objects the API server accepts",
		func(installCmd string, set []string, check func([]*unstructured.Unstructured)) {
			var args []string
			for _, s := range set {
				args = append(args, "--set", s)
			}
			objs := render(installCmd, args...)
			apply(objs)
			check(objs)
		},
		Entry("README install: the defaults plus clusterName", install, nil, func(objs []*unstructured.Unstructured) {
			Expect(kinds(objs)).To(ConsistOf("CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount",
				"ClusterRole", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "PodDisruptionBudget", "IngressClass"))
			// The AWS Load Balancer Controller's TargetGroupBinding CRD, from crds/ (served as LBC serves it).
			Expect(field(named(objs, "CustomResourceDefinition", "targetgroupbindings.elbv2.k8s.aws"), "spec", "group")).To(Equal("elbv2.k8s.aws"))
			// Metrics are served over HTTPS to scrapers bound to the metrics-reader role.
			Expect(controllerArgs(objs)).To(ContainElements("--metrics-secure=true", "--metrics-bind-address=:8443"))
			Expect(field(named(objs, "ClusterRole", "cloudlb-metrics-reader"), "rules")).To(ConsistOf(map[string]any{
				"nonResourceURLs": []any{"/metrics"}, "verbs": []any{"get"},
			}))

			var d appsv1.Deployment
			one(objs, "Deployment", &d)
			Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](2)))
			Expect(controllerArgs(objs)).To(ContainElements("--cluster-name=my-cluster", "--leader-elect=true",
				"--leader-election-namespace=cloudlb-system", "--ingress-class=cloudlb",
				"--leader-election-lease-duration=10s", "--leader-election-renew-deadline=7s", "--leader-election-retry-period=2s"))
			pod := d.Spec.Template.Spec
			Expect(pod.ServiceAccountName).To(Equal("cloudlb"))
			Expect(pod.SecurityContext.RunAsNonRoot).To(Equal(ptr.To(true)))
			Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
			c := pod.Containers[0]
			Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)))
			Expect(c.SecurityContext.AllowPrivilegeEscalation).To(Equal(ptr.To(false)))
			Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
			Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
			Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
			Expect(c.Resources.Requests).NotTo(BeEmpty())
			Expect(pod.TopologySpreadConstraints).To(HaveLen(2))
			for _, tsc := range pod.TopologySpreadConstraints {
				Expect(tsc.LabelSelector.MatchLabels).To(Equal(d.Spec.Selector.MatchLabels))
			}

			var pdb policyv1.PodDisruptionBudget
			one(objs, "PodDisruptionBudget", &pdb)
			Expect(pdb.Spec.Selector.MatchLabels).To(Equal(d.Spec.Selector.MatchLabels))

			var class networkingv1.IngressClass
			one(objs, "IngressClass", &class)
			Expect(class.Name).To(Equal("cloudlb"))
			Expect(class.Spec.Controller).To(Equal(ingress.ControllerName))
			Expect(class.Annotations).NotTo(HaveKey("ingressclass.kubernetes.io/is-default-class"))
		}),
		Entry("README install with IRSA", installIRSA, nil, func(objs []*unstructured.Unstructured) {
			var sa corev1.ServiceAccount
			one(objs, "ServiceAccount", &sa)
			Expect(sa.Annotations).To(HaveKeyWithValue("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/cloudlb"))
			var d appsv1.Deployment
			one(objs, "Deployment", &d)
			Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal(sa.Name))
		}),
		Entry("webhook serving certificate from cert-manager", install, []string{"webhook.enabled=true", "certManager.enabled=true"},
			func(objs []*unstructured.Unstructured) {
				cert, issuer := find(objs, "Certificate"), find(objs, "Issuer")
				Expect(kinds(objs)).NotTo(ContainElement("Secret"), "cert-manager writes the Secret")
				Expect(field(cert, "spec", "issuerRef", "name")).To(Equal(issuer.GetName()))
				Expect(field(cert, "spec", "dnsNames")).To(ContainElement("cloudlb-webhook.cloudlb-system.svc"))
				Expect(field(cert, "spec", "secretName")).To(Equal(webhookSecretOf(objs)))
			}),
		Entry("webhook serving certificate generated by the chart", install, []string{"webhook.enabled=true"},
			func(objs []*unstructured.Unstructured) {
				var secret corev1.Secret
				one(objs, "Secret", &secret)
				Expect(secret.Name).To(Equal(webhookSecretOf(objs)))
				// The certificate must verify against the CA for the webhook Service's in-cluster name.
				roots := x509.NewCertPool()
				Expect(roots.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
				block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
				Expect(block).NotTo(BeNil())
				leaf, err := x509.ParseCertificate(block.Bytes)
				Expect(err).NotTo(HaveOccurred())
				_, err = leaf.Verify(x509.VerifyOptions{DNSName: "cloudlb-webhook.cloudlb-system.svc", Roots: roots})
				Expect(err).NotTo(HaveOccurred())
			}),
		Entry("takeover from the AWS Load Balancer Controller", install, []string{"adoptLBCResources=true", "webhook.enabled=true"},
			func(objs []*unstructured.Unstructured) {
				Expect(controllerArgs(objs)).To(ContainElement("--adopt-lbc-resources=true"))
				var hooks admissionregistrationv1.MutatingWebhookConfiguration
				one(objs, "MutatingWebhookConfiguration", &hooks)
				Expect(hooks.Webhooks).To(HaveLen(2))
				// Each namespace is served by one entry: cloudlb's label, or else LBC's.
				cloudlbNS := labels.Set{"cloudlb.io/pod-readiness-gate-inject": "enabled", "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
				lbcNS := labels.Set{"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
				var matches []int
				for _, ns := range []labels.Set{cloudlbNS, lbcNS, {}} {
					n := 0
					for _, w := range hooks.Webhooks {
						sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
						Expect(err).NotTo(HaveOccurred())
						if sel.Matches(ns) {
							n++
						}
					}
					matches = append(matches, n)
				}
				Expect(matches).To(Equal([]int{1, 1, 0}))
				Expect(hooks.Webhooks[1].ClientConfig.Service.Path).To(Equal(ptr.To("/mutate-v1-pod")))
				Expect(hooks.Webhooks[1].FailurePolicy).To(Equal(ptr.To(admissionregistrationv1.Ignore)))
			}),
		Entry("ServiceMonitor on", install, []string{"serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus"},
			func(objs []*unstructured.Unstructured) {
				sm := find(objs, "ServiceMonitor")
				Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
				matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				var svc corev1.Service
				one(objs, "Service", &svc)
				Expect(labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels))).To(BeTrue())
				Expect(field(sm, "spec", "endpoints")).To(ConsistOf(And(
					HaveKeyWithValue("port", svc.Spec.Ports[0].Name),
					HaveKeyWithValue("scheme", "https"),
					HaveKeyWithValue("bearerTokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
					HaveKeyWithValue("tlsConfig", map[string]any{"insecureSkipVerify": true}),
				)))
			}),
		Entry("plain HTTP metrics", install, []string{"metrics.secure=false", "metrics.port=8080", "serviceMonitor.enabled=true"},
			func(objs []*unstructured.Unstructured) {
				Expect(controllerArgs(objs)).To(ContainElements("--metrics-secure=false", "--metrics-bind-address=:8080"))
				Expect(field(find(objs, "ClusterRole"), "metadata", "name")).To(Equal("cloudlb"), "no metrics-reader role")
				Expect(field(find(objs, "ServiceMonitor"), "spec", "endpoints")).To(ConsistOf(And(
					HaveKeyWithValue("scheme", "http"), Not(HaveKey("bearerTokenFile")), Not(HaveKey("tlsConfig")),
				)))
			}),
		Entry("1 replica", install, []string{"replicas=1"}, func(objs []*unstructured.Unstructured) {
			var d appsv1.Deployment
			one(objs, "Deployment", &d)
			Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](1)))
			// maxUnavailable 1 never blocks a node drain, even for a single replica.
			var pdb policyv1.PodDisruptionBudget
			one(objs, "PodDisruptionBudget", &pdb)
			Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		}),
		Entry("the default IngressClass, renamed", install, []string{"ingressClass.name=alb", "ingressClass.isDefault=true"},
			func(objs []*unstructured.Unstructured) {
				var class networkingv1.IngressClass
				one(objs, "IngressClass", &class)
				Expect(class.Name).To(Equal("alb"))
				Expect(class.Annotations).To(HaveKeyWithValue("ingressclass.kubernetes.io/is-default-class", "true"))
				// The legacy annotation value follows the class name.
				Expect(controllerArgs(objs)).To(ContainElement("--ingress-class=alb"))
			}),
	)
})

// controllerArgs are the rendered Deployment's controller flags.
func controllerArgs(objs []*unstructured.Unstructured) []string {
	GinkgoHelper()
	var d appsv1.Deployment
	one(objs, "Deployment", &d)
	Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	return d.Spec.Template.Spec.Containers[0].Args
}

// webhookSecretOf is the Secret the Deployment mounts the webhook serving certificate from.
func webhookSecretOf(objs []*unstructured.Unstructured) string {
	GinkgoHelper()
	var d appsv1.Deployment
	one(objs, "Deployment", &d)
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	Fail("the Deployment mounts no Secret")
	return ""
}

// The AWS Load Balancer Controller's IngressClassParams CRD may already be in the cluster, owned by that
// controller's chart: cloudlb's chart installs it only when it is absent or was installed by this release.
var _ = Describe("The IngressClassParams CRD of the chart", func() {
	const crdName = "ingressclassparams.elbv2.k8s.aws"
	rendersCRD := func(extra ...string) bool {
		GinkgoHelper()
		for _, o := range render(install, extra...) {
			if o.GetKind() == "CustomResourceDefinition" && o.GetName() == crdName {
				return true
			}
		}
		return false
	}

	It("is rendered by default, kept on uninstall, and not rendered with ingressClassParams.installCRD=false", func() {
		Expect(rendersCRD()).To(BeTrue())
		Expect(named(render(install), "CustomResourceDefinition", crdName).GetAnnotations()).To(
			HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		Expect(rendersCRD("--set", "ingressClassParams.installCRD=false")).To(BeFalse())
	})

	It("is not rendered when the cluster has it from another installation, and is when this release installed it", func() {
		crd := named(render(install), "CustomResourceDefinition", crdName)
		apply([]*unstructured.Unstructured{crd})
		// --dry-run=server lets the chart's lookup see the API server, as helm install and upgrade do.
		server := []string{"--dry-run=server", "--kubeconfig", writeKubeconfig("")}
		Expect(rendersCRD(server...)).To(BeFalse())

		// The API server writes the CRD's status after creating it: patch, not update.
		patch := []byte(`{"metadata":{"annotations":{"meta.helm.sh/release-name":"cloudlb","meta.helm.sh/release-namespace":"elsewhere"}}}`)
		Expect(k8s.Patch(context.Background(), crd, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Expect(rendersCRD(server...)).To(BeFalse(), "a release of the same name in another namespace owns it")
		patch = []byte(`{"metadata":{"annotations":{"meta.helm.sh/release-namespace":"cloudlb-system"}}}`)
		Expect(k8s.Patch(context.Background(), crd, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		Expect(rendersCRD(server...)).To(BeTrue(), "an upgrade keeps managing the CRD this release installed")
		Expect(rendersCRD(append(server, "--set", "ingressClassParams.installCRD=false")...)).To(BeFalse())
	})
})

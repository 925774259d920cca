package helm_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/test"
)

// The controller binary runs with the flags the chart renders, as the chart's ServiceAccount (the kubeconfig
// impersonates it), with leader election on: every permission it uses must come from the chart's RBAC.
var _ = Describe("The chart's RBAC", func() {
	// The README install (release cloudlb in cloudlb-system), with the in-memory cloud so that no AWS is needed.
	const namespace = "cloudlb-system"
	sa := "system:serviceaccount:" + namespace + ":cloudlb"

	It("lets the controller reconcile an Ingress to a load balancer address", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake")
		apply(objs)
		waitForIngressRBAC(sa, "patch", "ingresses/status", true)

		controller := runController(objs, sa, namespace)
		ing := createIngress(ctx)

		Eventually(hostname).WithArguments(ing).WithTimeout(time.Minute).ShouldNot(BeEmpty())
		// Events on the Ingress (events.k8s.io), the Lease renewals and the leader Event (core/v1) each need
		// their own permission.
		Eventually(func() []string { return eventReasons(ctx, ing) }).Should(ContainElement("Ensured"))
		Eventually(func(g Gomega) {
			var lease coordinationv1.Lease
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: leaseName}, &lease)).To(Succeed())
			g.Expect(lease.Spec.RenewTime.Time).To(BeTemporally(">", lease.Spec.AcquireTime.Time))
		}).Should(Succeed())
		Eventually(func() []string { return coreEventReasons(ctx, namespace) }).Should(ContainElement("LeaderElection"))
		// A permission that the happy path can live without (a watch, an Event) is still a bug when missing.
		Expect(forbidden(controller.Err.Contents())).To(BeEmpty())
		Expect(controller).NotTo(gexec.Exit(), "the controller stopped")
	})

	It("lets the controller serve an Ingress of a class with IngressClassParams that judge its namespace", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake")
		class := named(objs, "IngressClass", "cloudlb")
		Expect(unstructured.SetNestedMap(class.Object, map[string]any{"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams",
			"name": "cloudlb"}, "spec", "parameters")).To(Succeed())
		apply(objs)
		params := &elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb"}, Spec: elbv2.IngressClassParamsSpec{
			Scheme: ptr.To(elbv2.LoadBalancerSchemeInternetFacing),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpExists}}},
		}}
		// The chart's CRD is served once the API server has established it.
		Eventually(func() error { return k8s.Create(ctx, params) }).Should(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, params))).To(Succeed()) })
		waitForRBAC(sa, authorizationv1.ResourceAttributes{Verb: "watch", Group: "elbv2.k8s.aws", Resource: "ingressclassparams"}, true)

		controller := runController(objs, sa, namespace)
		ing := createIngress(ctx)
		Eventually(hostname).WithArguments(ing).WithTimeout(time.Minute).ShouldNot(BeEmpty())
		Expect(forbidden(controller.Err.Contents())).To(BeEmpty())
		Expect(controller).NotTo(gexec.Exit(), "the controller stopped")
	})

	It("lets the controller serve Ingresses in a cluster without the IngressClassParams CRD", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake", "--set", "ingressClassParams.installCRD=false")
		for _, o := range objs {
			Expect(o.GetName()).NotTo(Equal("ingressclassparams.elbv2.k8s.aws"))
		}
		apply(objs)
		waitForIngressRBAC(sa, "patch", "ingresses/status", true)

		controller := runController(objs, sa, namespace)
		ing := createIngress(ctx)
		Eventually(hostname).WithArguments(ing).WithTimeout(time.Minute).ShouldNot(BeEmpty())

		// A class naming IngressClassParams cannot be honoured: its Ingresses are refused, as for a missing object.
		class := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "cloudlb-params"}, Spec: networkingv1.IngressClassSpec{
			Controller: "cloudlb.io/alb", Parameters: &networkingv1.IngressClassParametersReference{
				APIGroup: ptr.To("elbv2.k8s.aws"), Kind: "IngressClassParams", Name: "public"}}}
		Expect(k8s.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, class))).To(Succeed()) })
		refused := ing.DeepCopy()
		refused.ObjectMeta = metav1.ObjectMeta{Namespace: ing.Namespace, Name: "refused"}
		refused.Spec.IngressClassName = ptr.To(class.Name)
		Expect(k8s.Create(ctx, refused)).To(Succeed())
		Eventually(func() []string { return eventReasons(ctx, refused) }).Should(ContainElement("IngressClassParametersNotFound"))
		Expect(hostname(refused)).To(BeEmpty())
		Expect(controller).NotTo(gexec.Exit(), "the controller stopped")
	})

	It("lets the test fail: without patch on ingresses/status, the Ingress never gets its address", func() {
		ctx := context.Background()
		objs := render(install, "--set", "cloudProvider=fake")
		dropVerb(named(objs, "ClusterRole", "cloudlb"), "ingresses/status", "patch")
		apply(objs)
		waitForIngressRBAC(sa, "patch", "ingresses/status", false)
		waitForIngressRBAC(sa, "patch", "ingresses", true)

		controller := runController(objs, sa, namespace)
		ing := createIngress(ctx)

		// The controller leads and reconciles (its finalizer is on the Ingress), and the status write is refused.
		Eventually(func() []string { return get(ctx, ing).Finalizers }).WithTimeout(time.Minute).Should(ContainElement(cloud.Finalizer))
		Eventually(controller.Err).Should(gbytes.Say(`cannot patch resource \\?"ingresses/status\\?"`))
		Consistently(hostname).WithArguments(ing).WithTimeout(3 * time.Second).Should(BeEmpty())
	})

	// The metrics server asks the API server who a scraper is (TokenReview) and whether it may get /metrics
	// (SubjectAccessReview): both need the controller's ClusterRole, and the scraper the metrics-reader role.
	It("lets the controller serve metrics to a scraper bound to the metrics-reader role, and to no one else", func() {
		objs := render(install, "--set", "cloudProvider=fake")
		apply(objs)
		waitForRBAC(sa, authorizationv1.ResourceAttributes{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, true)
		token := scraperToken("cloudlb-metrics-reader")
		url := "https://" + runControllerWithMetrics(objs, sa, namespace) + "/metrics"

		Eventually(scrape).WithArguments(url, "").Should(Equal(http.StatusUnauthorized))
		Expect(scrape(url, token)).To(Equal(http.StatusOK))
		Expect(scrape(url, unboundToken())).To(Equal(http.StatusForbidden))
	})

	It("lets the test fail: without create on tokenreviews, no scraper is served", func() {
		objs := render(install, "--set", "cloudProvider=fake")
		dropVerb(named(objs, "ClusterRole", "cloudlb"), "tokenreviews", "create")
		apply(objs)
		waitForRBAC(sa, authorizationv1.ResourceAttributes{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"}, false)
		waitForRBAC(sa, authorizationv1.ResourceAttributes{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, true)
		token := scraperToken("cloudlb-metrics-reader")
		url := "https://" + runControllerWithMetrics(objs, sa, namespace) + "/metrics"

		// controller-runtime answers 500 when it cannot review the token.
		Eventually(scrape).WithArguments(url, token).Should(Equal(http.StatusInternalServerError))
	})
})

// runControllerWithMetrics runs the controller as runController does, with its metrics server on a free local
// port, and returns the address once it accepts connections.
func runControllerWithMetrics(objs []*unstructured.Unstructured, user, leaseNamespace string) string {
	GinkgoHelper()
	port, err := test.FreePort()
	Expect(err).NotTo(HaveOccurred())
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	runController(objs, user, leaseNamespace, "--metrics-bind-address="+addr)
	Eventually(func() error {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed
		if err == nil {
			c.Close()
		}
		return err
	}).Should(Succeed())
	return addr
}

// scrape GETs url with token as bearer token (none when empty) and returns the status code.
func scrape(url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the controller's certificate is self-signed
	}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// scraperToken returns a token of a new ServiceAccount bound to clusterRole, once the API server's authorizer
// lets it get /metrics (the metrics server caches denials).
func scraperToken(clusterRole string) string {
	GinkgoHelper()
	ctx := context.Background()
	sa := newServiceAccount(ctx)
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "scraper-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}},
	}
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	DeferCleanup(k8s.Delete, context.Background(), binding)
	user := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	waitForMetricsRBAC(user, true)
	return tokenOf(ctx, sa)
}

// unboundToken returns a token of a new ServiceAccount that may not get /metrics.
func unboundToken() string {
	GinkgoHelper()
	ctx := context.Background()
	sa := newServiceAccount(ctx)
	waitForMetricsRBAC("system:serviceaccount:"+sa.Namespace+":"+sa.Name, false)
	return tokenOf(ctx, sa)
}

func newServiceAccount(ctx context.Context) *corev1.ServiceAccount {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "monitoring-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "prometheus"}}
	Expect(k8s.Create(ctx, sa)).To(Succeed())
	return sa
}

func tokenOf(ctx context.Context, sa *corev1.ServiceAccount) string {
	GinkgoHelper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(k8s.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

func waitForMetricsRBAC(user string, allowed bool) {
	GinkgoHelper()
	Eventually(func() (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/metrics"},
		}}
		err := k8s.Create(context.Background(), sar)
		return sar.Status.Allowed, err
	}).Should(Equal(allowed), "get /metrics for %s", user)
}

// waitForRBAC waits until the API server's authorizer answers allowed for user doing attrs.
func waitForRBAC(user string, attrs authorizationv1.ResourceAttributes, allowed bool) {
	GinkgoHelper()
	Eventually(func() (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"}, ResourceAttributes: &attrs,
		}}
		err := k8s.Create(context.Background(), sar)
		return sar.Status.Allowed, err
	}).Should(Equal(allowed), "%s %s for %s", attrs.Verb, attrs.Resource, user)
}

// leaseName is the controller's leader election Lease (controllers.NewManager).
const leaseName = "cloudlb.cloudlb.io"

// runController starts the controller binary with the Deployment's flags, a kubeconfig that impersonates user,
// and no listening ports. It stops when the spec ends, and the Lease is deleted, so that the next run does not
// wait for it to expire.
func runController(objs []*unstructured.Unstructured, user, leaseNamespace string, extra ...string) *gexec.Session {
	GinkgoHelper()
	kubeconfig := writeKubeconfig(user)

	// Later flags win, so these override the chart's ports, which may be taken on this machine.
	args := append(controllerArgs(objs), "--kubeconfig="+kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0")
	args = append(args, extra...)
	session, err := gexec.Start(exec.Command(controllerBin, args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Eventually(session.Terminate()).Should(gexec.Exit())
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: leaseNamespace, Name: leaseName}}
		Expect(client.IgnoreNotFound(k8s.Delete(context.Background(), lease))).To(Succeed())
	})
	return session
}

// writeKubeconfig writes a kubeconfig for the envtest API server, as its admin user, impersonating user unless
// it is empty.
func writeKubeconfig(user string) string {
	GinkgoHelper()
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(test.WriteKubeconfig(cfg, user, path)).To(Succeed())
	return path
}

// waitForIngressRBAC waits until the API server's authorizer answers allowed for user doing verb on resource
// ("ingresses" or "ingresses/status"): it caches roles, so a role just created or changed takes a moment to apply.
func waitForIngressRBAC(user, verb, resource string, allowed bool) {
	GinkgoHelper()
	resource, subresource, _ := strings.Cut(resource, "/")
	Eventually(func() (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			// Groups the API server adds when a service account is impersonated.
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: "default", Verb: verb, Group: networkingv1.GroupName, Resource: resource, Subresource: subresource,
			},
		}}
		err := k8s.Create(context.Background(), sar)
		return sar.Status.Allowed, err
	}).Should(Equal(allowed), "%s %s/%s for %s", verb, resource, subresource, user)
}

// dropVerb removes verb from the rule of the ClusterRole that grants resource (the rule too, when that was its
// only verb), and fails when there is none, so that the negative run cannot pass by removing nothing.
func dropVerb(role *unstructured.Unstructured, resource, verb string) {
	GinkgoHelper()
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	dropped := false
	var kept []any
	for _, r := range rules {
		rule := r.(map[string]any)
		resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(rule, "verbs")
		if slices.Contains(resources, resource) && slices.Contains(verbs, verb) {
			Expect(resources).To(Equal([]string{resource}), "the rule also grants other resources")
			verbs = slices.DeleteFunc(verbs, func(v string) bool { return v == verb })
			dropped = true
			if len(verbs) == 0 {
				continue // the API server refuses a rule without verbs
			}
			Expect(unstructured.SetNestedStringSlice(rule, verbs, "verbs")).To(Succeed())
		}
		kept = append(kept, rule)
	}
	Expect(dropped).To(BeTrue(), "no rule grants %s on %s", verb, resource)
	Expect(unstructured.SetNestedSlice(role.Object, kept, "rules")).To(Succeed())
}

// createIngress creates a Service and an Ingress of the chart's IngressClass in a new namespace.
func createIngress(ctx context.Context) *networkingv1.Ingress {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "app-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	Expect(k8s.Create(ctx, svc)).To(Succeed())
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "app"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("cloudlb"),
			Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
	}
	Expect(k8s.Create(ctx, ing)).To(Succeed())
	return ing
}

// forbidden returns the errors in the controller's log that the API server's authorizer caused: the "error" of
// a JSON log line, or the whole line from klog.
func forbidden(log []byte) []string {
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		if !strings.Contains(line, "forbidden") {
			continue
		}
		var entry struct{ Error string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Error != "" {
			line = entry.Error
		}
		out = append(out, line)
	}
	return out
}

func get(ctx context.Context, ing *networkingv1.Ingress) *networkingv1.Ingress {
	GinkgoHelper()
	out := &networkingv1.Ingress{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ing), out)).To(Succeed())
	return out
}

func hostname(ing *networkingv1.Ingress) string {
	lb := get(context.Background(), ing).Status.LoadBalancer.Ingress
	if len(lb) == 0 {
		return ""
	}
	return lb[0].Hostname
}

func eventReasons(ctx context.Context, ing *networkingv1.Ingress) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ing.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == ing.Name {
			out = append(out, e.Reason)
		}
	}
	return out
}

func coreEventReasons(ctx context.Context, ns string) []string {
	GinkgoHelper()
	var list corev1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason)
	}
	return out
}

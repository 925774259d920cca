package ingress

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
)

func TestClassParamsGroupOverridesTheAnnotation(t *testing.T) {
	g := NewWithT(t)
	spec := elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "shared"}}
	out := Translate(paramsInput(map[string]string{annGroupName: "mine", annGroupOrder: "7"}, spec))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Warnings[key("app")]).To(ConsistOf(
		`annotation alb.ingress.kubernetes.io/group.name="mine" is overridden by IngressClass alb: IngressClassParams p sets spec.group.name`))
	// The same group, asked by the annotation too, is no override.
	out = Translate(paramsInput(map[string]string{annGroupName: "shared"}, spec))
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.Warnings[key("app")]).To(BeEmpty())
}

func TestClassGroupStacks(t *testing.T) {
	ctx := context.Background()
	paramsRef := func(name string) *networkingv1.IngressClassParametersReference {
		return &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("elbv2.k8s.aws"), Kind: "IngressClassParams", Name: name}
	}
	classes := []networkingv1.IngressClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "grouped"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName, Parameters: paramsRef("g")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName, Parameters: paramsRef("none")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "lost"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName, Parameters: paramsRef("gone")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName, Parameters: paramsRef("bad")}},
	}
	objs := []client.Object{
		&elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "g"}, Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "team"}}},
		&elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "none"}},
		&elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "Team"}}},
		&v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: v1alpha1.LoadBalancerSpec{Stack: "team"},
			Status: v1alpha1.LoadBalancerStatus{Members: []v1alpha1.MemberStatus{{Name: "ns/served", Applied: true}}}},
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	_ = elbv2.AddToScheme(scheme)
	b := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1alpha1.LoadBalancer{})
	for i := range classes {
		b = b.WithObjects(&classes[i])
	}
	b = b.WithObjects(objs...)
	view, err := newGroupView(ctx, b.Build(), newServed(nil, "cloudlb", false))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())

	ing := func(name, class string, ann map[string]string, finalized bool) *networkingv1.Ingress {
		i := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann}}
		if class != "" {
			i.Spec.IngressClassName = ptr.To(class)
		}
		if finalized {
			i.Finalizers = []string{cloud.Finalizer}
		}
		return i
	}
	for _, tc := range []struct {
		name string
		ing  *networkingv1.Ingress
		want []string
	}{
		{"the class's group wins over the annotation", ing("served", "grouped", map[string]string{annGroupName: "mine"}, true), []string{"team"}},
		{"a class without a group leaves it to the annotation", ing("x", "plain", map[string]string{annGroupName: "mine"}, false), []string{"mine"}},
		{"the legacy annotation has no class", ing("x", "grouped", map[string]string{legacyClassAnnotation: "cloudlb"}, false), []string{"ns/x"}},
		{"an invalid class group joins no group", ing("x", "bad", map[string]string{annGroupName: "mine"}, false), []string{"ns/x"}},
		{"params gone: a served member stays where its record lists it", ing("served", "lost", nil, true), []string{"team"}},
		{"class gone: a served member stays where its record lists it", ing("served", "deleted", nil, true), []string{"team"}},
		{"params gone, never served: the annotation", ing("new", "lost", nil, false), []string{"ns/new"}},
		{"params gone, served but listed nowhere: the annotation", ing("other", "lost", nil, true), []string{"ns/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			reqs, err := view.stacks(ctx, tc.ing)
			g.Expect(err).NotTo(HaveOccurred())
			var got []string
			for _, r := range reqs {
				got = append(got, stackKey(r))
			}
			g.Expect(got).To(Equal(tc.want))
		})
	}

	t.Run("an event's params stand in for the cached ones", func(t *testing.T) {
		g := NewWithT(t)
		view.withParams(&elbv2.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "g"},
			Spec: elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "other"}}})
		reqs, err := view.stacks(ctx, ing("x", "grouped", nil, false))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(reqs).To(HaveLen(1))
		g.Expect(stackKey(reqs[0])).To(Equal("other"))
	})
}

func TestSameValueTrimsClassKeys(t *testing.T) {
	for _, tc := range []struct {
		asked, given string
		same         bool
	}{
		{"team=a", "team = b", false},
		{"team=a", " team = a ", true},
		{"team=a,env=x", "env=x", true},
		{"env = y", "env=x", false},
	} {
		if got := sameValue(annTags, tc.asked, tc.given); got != tc.same {
			t.Errorf("sameValue(tags, %q, %q) = %t, want %t", tc.asked, tc.given, got, tc.same)
		}
	}
}

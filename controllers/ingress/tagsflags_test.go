package ingress

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/api/v1alpha1"
	"github.com/cloudlb/cloudlb/cloud"
	"github.com/cloudlb/cloudlb/cloud/fake"
)

func controllersScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

func TestTranslateRefusesExternalManagedTags(t *testing.T) {
	external := []string{"billing", "owner"}
	for _, tc := range []struct {
		name      string
		ann       map[string]string
		classTags []elbv2.Tag
		external  []string
		// wantAnn names the annotation blamed, wantField the class field; neither means accepted.
		wantAnn, wantField string
		wantTags           map[string]string
	}{
		{name: "other keys are kept", ann: map[string]string{annTags: "team=web"}, external: external,
			wantTags: map[string]string{"team": "web"}},
		{name: "the annotation sets an external key", ann: map[string]string{annTags: "team=web,billing=me"}, external: external,
			wantAnn: annTags},
		{name: "without the flag the key is an ordinary tag", ann: map[string]string{annTags: "billing=me"},
			wantTags: map[string]string{"billing": "me"}},
		{name: "the class sets an external key", classTags: []elbv2.Tag{{Key: "owner", Value: "x"}}, external: external,
			wantField: "tags"},
		{name: "the annotation and the class both set it: the annotation is blamed", ann: map[string]string{annTags: "owner=me"},
			classTags: []elbv2.Tag{{Key: "owner", Value: "x"}}, external: external, wantAnn: annTags},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			in := input(webIngress("app", tc.ann))
			if tc.classTags != nil {
				in = paramsInput(tc.ann, elbv2.IngressClassParamsSpec{Tags: tc.classTags})
			}
			in.ExternalManagedTags = tc.external
			out := Translate(in)
			err := out.Errors[key("app")]
			var ae *AnnotationError
			var ce *ClassParamsError
			switch {
			case tc.wantAnn != "":
				g.Expect(errors.As(err, &ae)).To(BeTrue(), "%v", err)
				g.Expect(ae.Key).To(Equal(tc.wantAnn))
				g.Expect(ae.Reason).To(ContainSubstring("--external-managed-tags"))
				g.Expect(out.LoadBalancer).To(BeNil())
			case tc.wantField != "":
				g.Expect(errors.As(err, &ce)).To(BeTrue(), "%v", err)
				g.Expect(ce.Field).To(Equal(tc.wantField))
				g.Expect(ce.Reason).To(ContainSubstring(`"owner"`))
			default:
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(out.LoadBalancer.Tags).To(Equal(tc.wantTags))
			}
		})
	}
}

func TestTranslateDisableGroupNameAnnotation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		disable  bool
		group    bool
		applied  bool
		wantFail bool
	}{
		{name: "flag off: a new member joins", group: true},
		{name: "flag on: a new member is refused", disable: true, group: true, wantFail: true},
		{name: "flag on: a member already applied stays", disable: true, group: true, applied: true},
		{name: "flag on: an Ingress without group.name is served", disable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ann := map[string]string{}
			stack := "ns/app"
			if tc.group {
				ann[annGroupName] = "shared"
				stack = "shared"
			}
			in := input(webIngress("app", ann))
			in.Stack = stack
			in.DisableGroupNameAnnotation = tc.disable
			if tc.applied {
				in.Applied = map[types.NamespacedName]bool{key("app"): true}
			}
			out := Translate(in)
			if !tc.wantFail {
				g.Expect(out.Errors).To(BeEmpty())
				g.Expect(out.LoadBalancer).NotTo(BeNil())
				return
			}
			var ae *AnnotationError
			g.Expect(errors.As(out.Errors[key("app")], &ae)).To(BeTrue())
			g.Expect(ae.Key).To(Equal(annGroupName))
			g.Expect(ae.Reason).To(ContainSubstring("--disable-ingress-group-name-annotation"))
			g.Expect(out.LoadBalancer).To(BeNil())
		})
	}
}

// With the flag on, an Ingress whose class's IngressClassParams set the group is served in that group even if it
// still carries a group.name annotation: the class's group overrides it, so it forms no group of its own.
func TestDisableGroupNameAnnotationLeavesClassGroups(t *testing.T) {
	g := NewWithT(t)
	in := paramsInput(map[string]string{annGroupName: "old"}, elbv2.IngressClassParamsSpec{Group: &elbv2.IngressGroup{Name: "platform"}})
	in.Stack = "platform"
	in.DisableGroupNameAnnotation = true
	out := Translate(in)
	g.Expect(out.Errors).To(BeEmpty())
	g.Expect(out.LoadBalancer).NotTo(BeNil())
}

func TestUnseenMembersAreHeld(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ing := func(ns, name string, ann map[string]string, deleting bool) *networkingv1.Ingress {
		i := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, Finalizers: []string{cloud.Finalizer}}}
		if deleting {
			i.DeletionTimestamp = ptr.To(metav1.Now())
		}
		return i
	}
	listed := ing("ns", "a", map[string]string{annGroupName: "g1"}, false)
	movedAway := ing("ns", "c", map[string]string{annGroupName: "g2"}, false)
	deleting := ing("ns", "d", map[string]string{annGroupName: "g2"}, true)
	stayed := ing("ns", "s", map[string]string{annGroupName: "g1"}, false)
	record := &v1alpha1.LoadBalancer{Spec: v1alpha1.LoadBalancerSpec{Stack: "g1"}, Status: v1alpha1.LoadBalancerStatus{Members: []v1alpha1.MemberStatus{
		{Name: "ns/a", Applied: true}, {Name: "other/b", Applied: true}, {Name: "ns/c", Applied: true}, {Name: "ns/d", Applied: true},
		{Name: "ns/e", Applied: true}, {Name: "other/f"}, {Name: "ns/s", Applied: true},
	}}}
	c := crfake.NewClientBuilder().WithScheme(controllersScheme()).WithObjects(movedAway, deleting, stayed).Build()
	names := func(ings []*networkingv1.Ingress) []string {
		var out []string
		for _, i := range ings {
			out = append(out, i.Namespace+"/"+i.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		watchNS   string
		disableGN bool
		want      []string
	}{
		{name: "neither flag"},
		{name: "--watch-namespace holds the applied members of other namespaces", watchNS: "ns", want: []string{"other/b"}},
		{name: "--disable-ingress-group-name-annotation holds a member that moved to a group refusing it", disableGN: true,
			want: []string{"ns/c"}},
		{name: "both", watchNS: "ns", disableGN: true, want: []string{"ns/c", "other/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reconciler{Client: c, WatchNamespace: tc.watchNS, DisableGroupNameAnnotation: tc.disableGN}
			got, err := r.unseenMembers(ctx, "g1", record, []*networkingv1.Ingress{listed})
			g.Expect(err).NotTo(HaveOccurred())
			// ns/s is unlisted only in this test: it still names g1, so it has not moved away.
			g.Expect(names(got)).To(Equal(tc.want))
		})
	}
}

// A stack whose record names a live Ingress as applied is kept, even when the Ingress now names another stack: it
// may be held there (unseenMembers), still served by the load balancer.
func TestCollectorKeepsStacksThatRecordsTieToLiveIngresses(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	moved := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", Finalizers: []string{cloud.Finalizer},
		Annotations: map[string]string{annGroupName: "g2"}}}
	rec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "ns.c"}, Spec: v1alpha1.LoadBalancerSpec{Stack: "ns/c"},
		Status: v1alpha1.LoadBalancerStatus{Members: []v1alpha1.MemberStatus{{Name: "ns/c", Applied: true}}}}
	orphanRec := &v1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Name: "ns.gone"}, Spec: v1alpha1.LoadBalancerSpec{Stack: "ns/gone"},
		Status: v1alpha1.LoadBalancerStatus{Members: []v1alpha1.MemberStatus{{Name: "ns/gone", Applied: true}}}}
	c := crfake.NewClientBuilder().WithScheme(controllersScheme()).WithObjects(moved, rec, orphanRec).Build()
	p := fake.New()
	for _, s := range []string{"ns/c", "ns/gone"} {
		_, err := p.Ensure(ctx, &cloud.LoadBalancer{Stack: s, Name: "x"}, cloud.Known{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	gc := &Collector{Client: c, APIReader: c, Provider: p, LegacyClass: "cloudlb", Interval: time.Hour, ConfirmAfter: time.Nanosecond}
	_, err := gc.Collect(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	report, err := gc.Collect(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(report.Deleted).To(Equal([]string{"ns/gone"}))
	g.Expect(p.LoadBalancer("ns/c")).NotTo(BeNil())
}

package tgb

import (
	"context"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	elbv2 "github.com/cloudlb/cloudlb/api/elbv2/v1beta1"
	"github.com/cloudlb/cloudlb/cloud"
)

// A multi-cluster binding records the targets it registered in a ConfigMap of its namespace, named and laid out
// as the AWS Load Balancer Controller lays it out ("aws-lbc-targets-<binding>", key "targets", a comma-separated
// list of id:port), so that the record of a binding that controller served carries over. It is kept in the API
// server, not in memory or in the cloud: it must outlive restarts, and the target group is not cloudlb's to tag.
const (
	trackingPrefix = "aws-lbc-targets-"
	trackingKey    = "targets"
)

func trackingName(b *elbv2.TargetGroupBinding) client.ObjectKey {
	return client.ObjectKey{Namespace: b.Namespace, Name: trackingPrefix + b.Name}
}

// tracked returns the targets the binding recorded registering, and the record for track to write back; none,
// and a nil record, when there is no record.
func (r *Reconciler) tracked(ctx context.Context, b *elbv2.TargetGroupBinding) ([]cloud.Target, *corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, trackingName(b), cm); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	return parseTargets(cm.Data[trackingKey]), cm, nil
}

// track records targets as the binding's in cm, the record tracked read (nil: none yet), writing only when the
// record changes. It writes through cm, which then holds the new version: a sync writes the record twice, and
// reading it once is enough.
func (r *Reconciler) track(ctx context.Context, b *elbv2.TargetGroupBinding, cm *corev1.ConfigMap, targets []cloud.Target) (*corev1.ConfigMap, error) {
	value := formatTargets(targets)
	switch {
	case cm == nil:
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: trackingName(b).Name},
			Data: map[string]string{trackingKey: value}}
		return cm, r.Create(ctx, cm)
	case cm.Data[trackingKey] == value:
		return cm, nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[trackingKey] = value
	// The resource version read guards the write: a stale record must never overwrite a newer one.
	return cm, r.Update(ctx, cm)
}

// untrack deletes the binding's record once its targets are deregistered.
func (r *Reconciler) untrack(ctx context.Context, b *elbv2.TargetGroupBinding) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: trackingName(b).Name}}
	return client.IgnoreNotFound(r.Delete(ctx, cm))
}

func formatTargets(targets []cloud.Target) string {
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		out = append(out, t.ID+":"+strconv.Itoa(int(t.Port)))
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ",")
}

// parseTargets reads a record; an entry it cannot read is skipped, which only ever leaves a target registered.
func parseTargets(s string) []cloud.Target {
	var out []cloud.Target
	for _, e := range strings.Split(s, ",") {
		// The port follows the last colon: IPv6 addresses hold colons of their own.
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			continue
		}
		port, err := strconv.ParseInt(e[i+1:], 10, 32)
		if err != nil {
			continue
		}
		out = append(out, cloud.Target{ID: e[:i], Port: int32(port)})
	}
	return out
}

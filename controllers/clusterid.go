package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// ClusterID returns override, or else the UID of the kube-system namespace, read once with a direct client:
// two clusters never share it, even when they share a --cluster-name.
func ClusterID(ctx context.Context, cfg *rest.Config, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return "", fmt.Errorf("reading the cluster ID: %w", err)
	}
	var ns corev1.Namespace
	// A just-started API server creates kube-system within moments; a missing one is retried briefly.
	err = wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Name: metav1.NamespaceSystem}, &ns)
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		return "", fmt.Errorf("reading the cluster ID (the UID of namespace kube-system; it needs get on namespaces): %w", err)
	}
	if ns.UID == "" {
		return "", errors.New("reading the cluster ID: namespace kube-system has no UID")
	}
	return string(ns.UID), nil
}

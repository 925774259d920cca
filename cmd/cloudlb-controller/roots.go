package main

// The image (Dockerfile, `make image`) is the binary alone, without an operating system's CA bundle. The AWS and
// Kubernetes clients verify TLS against the system roots, so the binary carries Mozilla's roots for when the
// system has none; on a host or base image with a bundle, the bundle is used and these are ignored.
import _ "golang.org/x/crypto/x509roots/fallback"

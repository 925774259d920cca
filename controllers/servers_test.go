package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

var _ = Describe("The metrics server", func() {
	It("serves /metrics over HTTPS only to clients the API server allows get on /metrics", func() {
		url := "https://" + startMetrics(Options{MetricsSecure: true}) + "/metrics"
		allowed, denied := scraperToken("scraper", true), scraperToken("stranger", false)

		Expect(scrape(url, "")).To(HaveField("StatusCode", http.StatusUnauthorized))
		// controller-runtime answers 500 to a token the TokenReview rejects; what matters is that nothing is served.
		bad := scrape(url, "not-a-token")
		Expect(bad.StatusCode).To(BeNumerically(">=", 400))
		Expect(body(bad)).NotTo(ContainSubstring("# TYPE "))
		Expect(scrape(url, denied)).To(HaveField("StatusCode", http.StatusForbidden))
		resp := scrape(url, allowed)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(body(resp)).To(ContainSubstring("# TYPE "))
	})

	It("serves plain HTTP to anyone when not secure", func() {
		addr := startMetrics(Options{})
		Expect(scrape("http://"+addr+"/metrics", "")).To(HaveField("StatusCode", http.StatusOK))
		_, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test of the protocol only
		Expect(err).To(HaveOccurred(), "plain HTTP expected")
	})
})

var _ = DescribeTable("The metrics and webhook servers negotiate HTTP/2 only when enabled",
	func(enable bool, want string) {
		o := Options{MetricsSecure: true, EnableHTTP2: enable}
		metricsAddr := startMetrics(o)
		webhookAddr := startWebhook(o)
		Expect(alpn(metricsAddr)).To(Equal(want))
		Expect(alpn(webhookAddr)).To(Equal(want))
	},
	Entry("by default, HTTP/1.1 only", false, "http/1.1"),
	Entry("with --enable-http2", true, "h2"),
)

// startMetrics starts the metrics server that NewManager would for o, on a free local port, until the spec ends.
func startMetrics(o Options) string {
	GinkgoHelper()
	o.MetricsBindAddress = freeAddr()
	opts, _ := serverOptions(o)
	httpClient, err := rest.HTTPClientFor(cfg)
	Expect(err).NotTo(HaveOccurred())
	srv, err := metricsserver.NewServer(opts, cfg, httpClient)
	Expect(err).NotTo(HaveOccurred())
	run(srv.Start)
	waitListening(o.MetricsBindAddress)
	return o.MetricsBindAddress
}

// startWebhook starts the webhook server that NewManager would for o, with a self-signed certificate.
func startWebhook(o Options) string {
	GinkgoHelper()
	addr := freeAddr()
	host, port, _ := net.SplitHostPort(addr)
	o.Webhook.Host = host
	o.Webhook.Port, _ = strconv.Atoi(port)
	o.Webhook.CertDir = GinkgoT().TempDir()
	crt, key, err := certutil.GenerateSelfSignedCertKey(host, nil, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(o.Webhook.CertDir, "tls.crt"), crt, 0o600)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(o.Webhook.CertDir, "tls.key"), key, 0o600)).To(Succeed())
	_, opts := serverOptions(o)
	run(webhook.NewServer(opts).Start)
	waitListening(addr)
	return addr
}

func run(start func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).Should(Receive(BeNil()))
	})
}

func freeAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string) {
	GinkgoHelper()
	Eventually(func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}).Should(Succeed())
}

// alpn is the protocol the server at addr picks when a client offers HTTP/2 and HTTP/1.1, as browsers and
// Prometheus do.
func alpn(addr string) string {
	GinkgoHelper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // self-signed
	Expect(err).NotTo(HaveOccurred())
	defer conn.Close()
	return conn.ConnectionState().NegotiatedProtocol
}

func scrape(url, token string) *http.Response {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the server's certificate is self-signed
	}}
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(resp.Body.Close)
	return resp
}

func body(resp *http.Response) string {
	GinkgoHelper()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// scraperToken returns a token of a new ServiceAccount, bound to a ClusterRole granting get on /metrics when
// allowed. It waits until the API server's authorizer agrees, so that the metrics server's cache of denials
// cannot catch a role that is still being applied.
func scraperToken(name string, allowed bool) string {
	GinkgoHelper()
	ctx := context.Background()
	ns := "metrics-" + name
	_, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	_, err = kc.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	user := fmt.Sprintf("system:serviceaccount:%s:%s", ns, name)
	if allowed {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns}, Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
		_, err = kc.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ns},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		}
		_, err = kc.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	}
	Eventually(func() (bool, error) {
		sar, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
		}}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	}).Should(Equal(allowed))
	tr, err := kc.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

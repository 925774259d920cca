package controllers

import (
	"crypto/tls"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// A Secret volume is updated as the kubelet does it: the files are symlinks through ..data, which is swapped
// atomically to a new directory. cert-manager's renewals and a `helm upgrade` of the chart's certificate reach
// the pod that way.
var _ = Describe("The webhook server", func() {
	It("serves a renewed certificate without a restart", func() {
		dir := GinkgoT().TempDir()
		addr := freeAddr()
		host, port, _ := net.SplitHostPort(addr)
		first := writeSecretVolume(dir, host, "..v1")
		Expect(os.Symlink("..data/tls.crt", filepath.Join(dir, "tls.crt"))).To(Succeed())
		Expect(os.Symlink("..data/tls.key", filepath.Join(dir, "tls.key"))).To(Succeed())

		o := Options{}
		o.Webhook.Host = host
		o.Webhook.Port, _ = strconv.Atoi(port)
		o.Webhook.CertDir = dir
		_, opts := serverOptions(o)
		run(webhook.NewServer(opts).Start)
		waitListening(addr)
		Expect(servedCert(addr)).To(Equal(first))

		second := writeSecretVolume(dir, host, "..v2")
		Expect(second).NotTo(Equal(first))
		Expect(os.RemoveAll(filepath.Join(dir, "..v1"))).To(Succeed())
		Eventually(servedCert).WithArguments(addr).WithTimeout(40 * time.Second).Should(Equal(second))
	})
})

// writeSecretVolume writes a new self-signed pair into dir/version and points dir/..data at it, atomically,
// returning the certificate's DER.
func writeSecretVolume(dir, host, version string) []byte {
	GinkgoHelper()
	crt, key, err := certutil.GenerateSelfSignedCertKey(host, nil, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Mkdir(filepath.Join(dir, version), 0o700)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, version, "tls.crt"), crt, 0o600)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, version, "tls.key"), key, 0o600)).To(Succeed())
	Expect(os.Symlink(version, filepath.Join(dir, "..data_tmp"))).To(Succeed())
	Expect(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))).To(Succeed())
	block, _ := pem.Decode(crt)
	Expect(block).NotTo(BeNil())
	return block.Bytes
}

// servedCert is the DER of the certificate the server at addr presents in a TLS handshake.
func servedCert(addr string) ([]byte, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test compares the certificate itself
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw, nil
}

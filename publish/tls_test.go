package publish

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

type certFiles struct{ ca, cert, key string }

// makeCert writes a PEM certificate signed by parent (self-signed when
// parent is nil) and its key.
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key, certPath, keyPath
}

// A TLS listener that requires a client certificate: the publisher
// connects with ca_file, cert_file and key_file and delivers events.
func TestTLSWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caPath, _ := makeCert(t, dir, "ca", nil, nil, true)
	_, _, srvCert, srvKey := makeCert(t, dir, "server", ca, caKey, false)
	_, _, cliCert, cliKey := makeCert(t, dir, "client", ca, caKey, false)
	port := testenv.FreePort(t)
	b := testenv.StartBroker(t, fmt.Sprintf("listener %d 127.0.0.1", port), "cafile "+caPath, "certfile "+srvCert,
		"keyfile "+srvKey, "require_certificate true")
	w := watch(t, b, "sorterd/tls/event")
	p, err := New(Options{Broker: fmt.Sprintf("ssl://127.0.0.1:%d", port), Prefix: "sorterd", Station: "tls",
		OutboxDir: t.TempDir(), CAFile: caPath, CertFile: cliCert, KeyFile: cliKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)
	p.Event([]byte(`{"id":"tls-1"}`))
	waitFor(t, "event over TLS", func() bool { return len(w.Get("sorterd/tls/event")) == 1 })
	// Without the client certificate the broker refuses the connection.
	q, err := New(Options{Broker: fmt.Sprintf("ssl://127.0.0.1:%d", port), Prefix: "sorterd", Station: "tls2",
		OutboxDir: t.TempDir(), CAFile: caPath})
	if err != nil {
		t.Fatal(err)
	}
	go q.Run(ctx, time.Second)
	waitFor(t, "the refusal", func() bool { return q.LinkProblem() != "" || q.Connected() })
	if q.Connected() {
		t.Error("connected without a client certificate")
	}
	if _, err := New(Options{Broker: "ssl://x:1", OutboxDir: t.TempDir(), CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

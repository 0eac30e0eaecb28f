package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenEndpoint is a fake OAuth 2.0 token endpoint: check inspects each
// request's form and returns the subject the token is for, or an error
// (answered 401 invalid_client); tokens are "tok-SUBJECT-N".
type tokenEndpoint struct {
	*httptest.Server
	mu        sync.Mutex
	requests  int
	expiresIn int
	issued    []string
}

func newEndpoint(t *testing.T, check func(r *http.Request) (string, error)) *tokenEndpoint {
	t.Helper()
	te := &tokenEndpoint{expiresIn: 3600}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		subject, err := check(r)
		te.mu.Lock()
		defer te.mu.Unlock()
		te.requests++
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": err.Error()})
			return
		}
		tok := fmt.Sprintf("tok-%s-%d", subject, te.requests)
		te.issued = append(te.issued, tok)
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": te.expiresIn})
	}))
	t.Cleanup(te.Close)
	return te
}

func (te *tokenEndpoint) count() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.requests
}

// TestMicrosoftClientCredentials: the client credentials grant with a
// secret from the environment, the Exchange Online scope, one token for
// every mailbox, cached until shortly before it expires.
func TestMicrosoftClientCredentials(t *testing.T) {
	t.Setenv("TEST_MS_SECRET", "Cl1ent-S3cret~")
	te := newEndpoint(t, func(r *http.Request) (string, error) {
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "app-1" || f.Get("client_secret") != "Cl1ent-S3cret~" || f.Get("scope") != MicrosoftScope {
			return "", fmt.Errorf("bad request %v", f)
		}
		return "app", nil
	})
	c := Config{Provider: "microsoft", Tenant: "contoso.onmicrosoft.com", ClientID: "app-1", ClientSecret: "env:TEST_MS_SECRET", TokenURL: te.URL + "/contoso/oauth2/v2.0/token"}
	if err := c.Validate("target.oauth"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := c.Token(ctx, "alice@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Token(ctx, "bob@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || te.count() != 1 {
		t.Fatalf("tokens %q %q after %d requests: want one token for every mailbox, cached", a, b, te.count())
	}
}

// TestTokenRefreshedBeforeExpiry: a token within RefreshBefore of its
// expiry is replaced before it runs out, in the middle of a run.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	te := newEndpoint(t, func(*http.Request) (string, error) { return "app", nil })
	te.expiresIn = int(RefreshBefore/time.Second) + 1 // good for one more second, then due
	c := Config{Provider: "microsoft", Tenant: "t", ClientID: "app-2", ClientSecret: "literal-secret", TokenURL: te.URL}
	ctx := context.Background()
	first, err := c.Token(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Token(ctx, "alice"); again != first {
		t.Fatalf("token not cached while good: %q then %q", first, again)
	}
	time.Sleep(1100 * time.Millisecond)
	te.expiresIn = 3600
	next, err := c.Token(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if next == first || te.count() != 2 {
		t.Fatalf("token near expiry not refreshed: %q then %q (%d requests)", first, next, te.count())
	}
}

// TestMicrosoftRefusalNamesNoSecret: a refused request is ErrRefused and
// its message names neither the secret nor a token.
func TestMicrosoftRefusalNamesNoSecret(t *testing.T) {
	te := newEndpoint(t, func(r *http.Request) (string, error) {
		return "", errors.New("AADSTS7000215: Invalid client secret provided.")
	})
	c := Config{Provider: "microsoft", Tenant: "t", ClientID: "app-3", ClientSecret: "Wr0ng-S3cret", TokenURL: te.URL}
	_, err := c.Token(context.Background(), "alice")
	if !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "Wr0ng-S3cret") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("refusal: %v", err)
	}
}

// selfSigned makes an RSA key and a certificate for it.
func selfSigned(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailshift"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// verifyJWT checks an RS256 JWT's signature with pub and returns its
// header and claims.
func verifyJWT(jwt string, pub *rsa.PublicKey) (map[string]any, map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	var head, claims map[string]any
	for i, v := range []*map[string]any{&head, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, nil, err
		}
	}
	return head, claims, nil
}

// TestMicrosoftCertificate: with a certificate, the request carries a
// client assertion the endpoint verifies with the certificate's key.
func TestMicrosoftCertificate(t *testing.T) {
	key, der := selfSigned(t)
	thumb := sha1.Sum(der)
	var te *tokenEndpoint
	te = newEndpoint(t, func(r *http.Request) (string, error) {
		f := r.PostForm
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_secret") != "" {
			return "", fmt.Errorf("bad request %v", f)
		}
		head, claims, err := verifyJWT(f.Get("client_assertion"), &key.PublicKey)
		if err != nil {
			return "", err
		}
		if head["x5t"] != base64.RawURLEncoding.EncodeToString(thumb[:]) || claims["iss"] != "app-4" || claims["sub"] != "app-4" || claims["aud"] != te.URL {
			return "", fmt.Errorf("assertion %v %v", head, claims)
		}
		return "app", nil
	})
	file := filepath.Join(t.TempDir(), "app.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(file, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Provider: "microsoft", Tenant: "t", ClientID: "app-4", Certificate: file, TokenURL: te.URL}
	if err := c.Validate("source.oauth"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
}

// TestGoogleServiceAccount: a JWT bearer grant per user, signed with the
// service account's key (verified by the endpoint), the user as subject
// and the Gmail scope.
func TestGoogleServiceAccount(t *testing.T) {
	key, _ := selfSigned(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var te *tokenEndpoint
	te = newEndpoint(t, func(r *http.Request) (string, error) {
		f := r.PostForm
		if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			return "", fmt.Errorf("grant_type %q", f.Get("grant_type"))
		}
		_, claims, err := verifyJWT(f.Get("assertion"), &key.PublicKey)
		if err != nil {
			return "", err
		}
		if claims["iss"] != "migrate@proj.iam.gserviceaccount.com" || claims["scope"] != GoogleScope || claims["aud"] != te.URL {
			return "", fmt.Errorf("claims %v", claims)
		}
		return claims["sub"].(string), nil
	})
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "migrate@proj.iam.gserviceaccount.com",
		"private_key_id": "k1", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "token_uri": te.URL})
	file := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(file, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Provider: "google", ServiceAccount: "file:" + file}
	if err := c.Validate("source.oauth"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := c.Token(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Token(ctx, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.Token(ctx, "alice@example.com")
	if !strings.HasPrefix(a, "tok-alice@example.com-") || !strings.HasPrefix(b, "tok-bob@example.com-") || a2 != a || te.count() != 2 {
		t.Fatalf("tokens %q %q %q after %d requests: want one per user, cached", a, b, a2, te.count())
	}
}

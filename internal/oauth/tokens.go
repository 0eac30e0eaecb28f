// Package oauth acquires the OAuth 2.0 access tokens of IMAP logins
// (XOAUTH2, OAUTHBEARER) itself, so that no script is needed:
//
//   - Microsoft: the client credentials grant for app-only access to
//     Exchange Online mailboxes, with a client secret or a certificate
//     (https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth,
//     "Use client credentials grant flow to authenticate IMAP and POP
//     connections"); one token serves every mailbox the application was
//     granted.
//   - Google: a service account with domain-wide delegation, one JWT
//     bearer grant per user with the user as subject
//     (https://developers.google.com/identity/protocols/oauth2/service-account).
//
// The flows are golang.org/x/oauth2's (clientcredentials, google, jwt).
// Tokens are cached in memory only, per application and (for Google)
// user, and fetched again RefreshBefore their expiry; the secrets they come
// from are read when a token is needed and kept by nothing but the flow.
package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"

	"github.com/mailshift/mailshift/internal/users"
)

// RefreshBefore is how long before its expiry a cached token is replaced.
var RefreshBefore = 5 * time.Minute

// ErrRefused is wrapped when the token endpoint refused the request (an
// HTTP 4xx: wrong tenant, client, secret, certificate or delegation), as
// opposed to a failure to reach it.
var ErrRefused = errors.New("token request refused")

// cache holds one token source per application (and user, for Google).
var cache sync.Map // string -> oauth2.TokenSource

// Token returns a valid access token for user's mailbox (for Microsoft,
// the application's token; for Google, one delegated by user), from the
// cache when it is still good for RefreshBefore, else fetched.
// Errors name the provider and the user and never carry a secret.
func (c Config) Token(ctx context.Context, user string) (string, error) {
	key := c.cacheKey(user)
	v, ok := cache.Load(key)
	if !ok {
		ts, err := c.newSource(ctx, user)
		if err != nil {
			return "", err
		}
		v, _ = cache.LoadOrStore(key, oauth2.ReuseTokenSourceWithExpiry(nil, ts, RefreshBefore))
	}
	tok, err := v.(oauth2.TokenSource).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return "", fmt.Errorf("%s token for %s: %w: %s", c.Provider, user, ErrRefused, describe(err))
		}
		return "", fmt.Errorf("%s token for %s: %s", c.Provider, user, describe(err))
	}
	return tok.AccessToken, nil
}

// cacheKey tells token sources apart. Secrets are named by their
// references (env:X, file:...), a literal secret by its hash.
func (c Config) cacheKey(user string) string {
	secret := c.ClientSecret
	if s, err := users.ParseSecret(secret); err == nil && s.IsLiteral() {
		secret = fmt.Sprintf("%x", sha256.Sum256([]byte(secret)))
	}
	if strings.EqualFold(c.Provider, Microsoft) {
		user = "" // app-only: one token for every mailbox
	}
	return strings.Join([]string{strings.ToLower(c.Provider), c.Tenant, c.ClientID, secret, c.Certificate, c.ServiceAccount, c.Scope, c.TokenURL, user}, "\x00")
}

// newSource builds the flow of c.Provider.
func (c Config) newSource(ctx context.Context, user string) (oauth2.TokenSource, error) {
	switch strings.ToLower(c.Provider) {
	case Microsoft:
		return c.microsoft(ctx)
	case Google:
		return c.google(ctx, user)
	}
	return nil, fmt.Errorf("oauth provider %q: must be microsoft or google", c.Provider)
}

// microsoft is the client credentials grant, with a client secret or a
// certificate (a signed client assertion, made afresh for every request).
func (c Config) microsoft(ctx context.Context) (oauth2.TokenSource, error) {
	tokenURL := c.TokenURL
	if tokenURL == "" {
		tokenURL = "https://login.microsoftonline.com/" + url.PathEscape(c.Tenant) + "/oauth2/v2.0/token"
	}
	cc := clientcredentials.Config{ClientID: c.ClientID, TokenURL: tokenURL, Scopes: []string{orDefault(c.Scope, MicrosoftScope)},
		AuthStyle: oauth2.AuthStyleInParams}
	if c.Certificate == "" {
		secret, err := reveal(ctx, c.ClientSecret, "client_secret")
		if err != nil {
			return nil, err
		}
		cc.ClientSecret = secret
		return cc.TokenSource(context.Background()), nil
	}
	key, thumb, err := loadCertificate(c.Certificate)
	if err != nil {
		return nil, err
	}
	return assertionSource{cc: cc, key: key, thumb: thumb}, nil
}

// google is a service account's JWT bearer grant with user as subject.
func (c Config) google(ctx context.Context, user string) (oauth2.TokenSource, error) {
	js, err := reveal(ctx, c.ServiceAccount, "service_account")
	if err != nil {
		return nil, err
	}
	jc, err := google.JWTConfigFromJSON([]byte(js), orDefault(c.Scope, GoogleScope))
	if err != nil {
		return nil, errors.New("oauth service_account: not a Google service account JSON key; download one in the Google Cloud console (IAM, Service accounts, Keys)")
	}
	jc.Subject = user
	if c.TokenURL != "" {
		jc.TokenURL = c.TokenURL
	}
	return jc.TokenSource(context.Background()), nil
}

// assertionSource fetches tokens with a client assertion signed by the
// application's certificate key (RFC 7523; Microsoft's "certificate
// credentials": RS256, the certificate's SHA-1 thumbprint as x5t).
type assertionSource struct {
	cc    clientcredentials.Config
	key   *rsa.PrivateKey
	thumb []byte
}

func (a assertionSource) Token() (*oauth2.Token, error) {
	assertion, err := a.assertion(time.Now())
	if err != nil {
		return nil, err
	}
	cc := a.cc
	cc.EndpointParams = url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	return cc.Token(context.Background())
}

// assertion signs the claims Microsoft asks of a client assertion.
func (a assertionSource) assertion(now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": enc.EncodeToString(a.thumb)})
	claims, _ := json.Marshal(map[string]any{"aud": a.cc.TokenURL, "iss": a.cc.ClientID, "sub": a.cc.ClientID,
		"jti": enc.EncodeToString(jti), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signing := enc.EncodeToString(head) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// loadCertificate reads a PEM file with the application's certificate
// and its RSA private key.
func loadCertificate(path string) (*rsa.PrivateKey, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("oauth certificate: %w", err)
	}
	var (
		key   *rsa.PrivateKey
		thumb []byte
	)
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "CERTIFICATE":
			s := sha1.Sum(block.Bytes)
			thumb = s[:]
		case "RSA PRIVATE KEY":
			key, _ = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				key, _ = k.(*rsa.PrivateKey)
			}
		}
	}
	if key == nil || thumb == nil {
		return nil, nil, fmt.Errorf("oauth certificate %s: needs a CERTIFICATE and an RSA PRIVATE KEY (PEM)", path)
	}
	return key, thumb, nil
}

// reveal reads a secret reference.
func reveal(ctx context.Context, ref, name string) (string, error) {
	s, err := users.ParseSecret(ref)
	if err != nil {
		return "", fmt.Errorf("oauth %s: %w", name, err)
	}
	v, err := s.Reveal(ctx)
	if err != nil {
		return "", fmt.Errorf("oauth %s: %w", name, err)
	}
	return v, nil
}

// describe says why a token request failed without repeating what the
// server echoed (which may hold the request's parameters).
func describe(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "no error code"
		}
		msg := fmt.Sprintf("the token endpoint refused: HTTP %d, %s", re.Response.StatusCode, code)
		if re.ErrorDescription != "" {
			msg += ": " + firstLine(re.ErrorDescription)
		}
		return msg
	}
	return err.Error()
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

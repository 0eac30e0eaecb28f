package oauth

import (
	"fmt"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
)

// The providers whose token flows are built in.
const (
	Microsoft = "microsoft"
	Google    = "google"
)

// Default scopes: Exchange Online's for app-only IMAP
// (https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth,
// "OAuth2 client credentials grant flow"), and Gmail's full mail scope
// (https://developers.google.com/gmail/imap/xoauth2-protocol).
const (
	MicrosoftScope = "https://outlook.office365.com/.default"
	GoogleScope    = "https://mail.google.com/"
)

// Config is one side's built-in token acquisition (the oauth: section of
// source or target). The zero value means none: tokens come from the
// token key or the users file, as before.
//
// ClientSecret and ServiceAccount are secrets written as passwords are:
// env:VAR, file:PATH or cmd:COMMAND (or, discouraged, the value itself).
// They are read when a token is needed and never stored.
type Config struct {
	// Provider is microsoft (client credentials, app-only access) or
	// google (a service account with domain-wide delegation).
	Provider string `mapstructure:"provider" yaml:"provider"`
	// Tenant is the Microsoft Entra tenant: its ID or a domain
	// (contoso.onmicrosoft.com).
	Tenant string `mapstructure:"tenant" yaml:"tenant"`
	// ClientID is the Microsoft application (client) ID.
	ClientID string `mapstructure:"client_id" yaml:"client_id"`
	// ClientSecret is the Microsoft application's client secret.
	ClientSecret string `mapstructure:"client_secret" yaml:"client_secret"`
	// Certificate is, instead of a client secret, a PEM file holding the
	// application's certificate and its private key (RSA).
	Certificate string `mapstructure:"certificate" yaml:"certificate"`
	// ServiceAccount is the Google service account's JSON key.
	ServiceAccount string `mapstructure:"service_account" yaml:"service_account"`
	// Scope overrides the provider's default scope.
	Scope string `mapstructure:"scope" yaml:"scope"`
	// TokenURL overrides the provider's token endpoint (national clouds,
	// tests).
	TokenURL string `mapstructure:"token_url" yaml:"token_url"`
}

// Enabled tells whether tokens are acquired by mailshift.
func (c Config) Enabled() bool { return c.Provider != "" }

// Validate checks the settings; key is the section's key ("target.oauth")
// for the messages.
func (c Config) Validate(key string) error {
	if !c.Enabled() {
		for _, f := range []string{c.Tenant, c.ClientID, c.ClientSecret, c.Certificate, c.ServiceAccount, c.TokenURL} {
			if f != "" {
				return fmt.Errorf("%s.provider: missing: say microsoft or google", key)
			}
		}
		return nil
	}
	for _, f := range []struct{ name, v string }{{"client_secret", c.ClientSecret}, {"service_account", c.ServiceAccount}} {
		if _, err := users.ParseSecret(f.v); err != nil {
			return fmt.Errorf("%s.%s: %v", key, f.name, err)
		}
	}
	switch strings.ToLower(c.Provider) {
	case Microsoft:
		switch {
		case c.Tenant == "":
			return fmt.Errorf("%s.tenant: missing: the Microsoft Entra tenant ID or domain (contoso.onmicrosoft.com)", key)
		case c.ClientID == "":
			return fmt.Errorf("%s.client_id: missing: the application (client) ID of the app registration", key)
		case c.ClientSecret == "" && c.Certificate == "":
			return fmt.Errorf("%s.client_secret: missing: give the client secret (env:VAR, file:PATH or cmd:COMMAND) or a certificate", key)
		case c.ClientSecret != "" && c.Certificate != "":
			return fmt.Errorf("%s.certificate: give a client secret or a certificate, not both", key)
		case c.ServiceAccount != "":
			return fmt.Errorf("%s.service_account: is for provider google", key)
		}
	case Google:
		switch {
		case c.ServiceAccount == "":
			return fmt.Errorf("%s.service_account: missing: the service account's JSON key (file:PATH, env:VAR or cmd:COMMAND)", key)
		case c.ClientSecret != "" || c.Certificate != "" || c.Tenant != "":
			return fmt.Errorf("%s: tenant, client_secret and certificate are for provider microsoft", key)
		}
	default:
		return fmt.Errorf("%s.provider: %q: must be microsoft or google", key, c.Provider)
	}
	return nil
}

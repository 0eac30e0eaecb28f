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

// FieldError is a mistake in one key of the section.
type FieldError struct {
	Key string // e.g. "target.oauth.tenant"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

func fieldErr(key, msg string) error { return &FieldError{Key: key, Msg: msg} }

// Enabled tells whether tokens are acquired by mailshift.
func (c Config) Enabled() bool { return c.Provider != "" }

// Validate checks the settings; key is the section's key ("target.oauth")
// for the messages.
func (c Config) Validate(key string) error {
	if !c.Enabled() {
		for _, f := range []string{c.Tenant, c.ClientID, c.ClientSecret, c.Certificate, c.ServiceAccount, c.TokenURL} {
			if f != "" {
				return fieldErr(key+".provider", "missing: say microsoft or google")
			}
		}
		return nil
	}
	for _, f := range []struct{ name, v string }{{"client_secret", c.ClientSecret}, {"service_account", c.ServiceAccount}} {
		if _, err := users.ParseSecret(f.v); err != nil {
			return fieldErr(key+"."+f.name, err.Error())
		}
	}
	switch strings.ToLower(c.Provider) {
	case Microsoft:
		switch {
		case c.Tenant == "":
			return fieldErr(key+".tenant", "missing: the Microsoft Entra tenant ID or domain (contoso.onmicrosoft.com)")
		case c.ClientID == "":
			return fieldErr(key+".client_id", "missing: the application (client) ID of the app registration")
		case c.ClientSecret == "" && c.Certificate == "":
			return fieldErr(key+".client_secret", "missing: give the client secret (env:VAR, file:PATH or cmd:COMMAND) or a certificate")
		case c.ClientSecret != "" && c.Certificate != "":
			return fieldErr(key+".certificate", "give a client secret or a certificate, not both")
		case c.ServiceAccount != "":
			return fieldErr(key+".service_account", "is for provider google")
		}
	case Google:
		switch {
		case c.ServiceAccount == "":
			return fieldErr(key+".service_account", "missing: the service account's JSON key (file:PATH, env:VAR or cmd:COMMAND)")
		case c.ClientSecret != "" || c.Certificate != "" || c.Tenant != "":
			return fieldErr(key, "tenant, client_secret and certificate are for provider microsoft")
		}
	default:
		return fieldErr(key+".provider", fmt.Sprintf("%q: must be microsoft or google", c.Provider))
	}
	return nil
}

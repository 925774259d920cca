package cloud

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// AuthType is the identity provider an Authenticate step signs users in with.
type AuthType string

// Authentication types.
const (
	AuthOIDC    AuthType = "oidc"
	AuthCognito AuthType = "cognito"
	// AuthJWT validates a JSON Web Token that the request carries instead of signing a user in.
	AuthJWT AuthType = "jwt-validation"
)

// Authenticate signs the user in before an action is taken. The model never holds an OIDC client secret, since
// it is encoded onto the LoadBalancer record and hashed for change detection: ClientSecretHash names it, and
// the provider finds the value in LoadBalancer.ClientSecrets.
type Authenticate struct {
	Type AuthType
	// OIDC.
	Issuer                string `json:",omitempty"`
	AuthorizationEndpoint string `json:",omitempty"`
	TokenEndpoint         string `json:",omitempty"`
	UserInfoEndpoint      string `json:",omitempty"`
	ClientID              string `json:",omitempty"`
	ClientSecretHash      string `json:",omitempty"`
	// Cognito.
	UserPoolARN      string `json:",omitempty"`
	UserPoolClientID string `json:",omitempty"`
	UserPoolDomain   string `json:",omitempty"`
	// OIDC and Cognito.
	ExtraParams              map[string]string `json:",omitempty"`
	OnUnauthenticatedRequest string            `json:",omitempty"`
	Scope                    string            `json:",omitempty"`
	SessionCookie            string            `json:",omitempty"`
	SessionTimeout           int64             `json:",omitempty"`
	// JWT validation; Issuer is the token's issuer.
	JWKSEndpoint string     `json:",omitempty"`
	Claims       []JWTClaim `json:",omitempty"`
}

// JWTClaim is a claim a valid token must carry, with one of Values.
type JWTClaim struct {
	Name string
	// Format is single-string, string-array or space-separated-values.
	Format string
	Values []string
}

// ClientSecrets are OIDC client secrets by ClientSecretHash. They never reach a log line, an event or the record:
// the type prints redacted and the LoadBalancer field that holds it is not encoded.
type ClientSecrets map[string]string

// String keeps the values out of anything formatted with %v or %s.
func (ClientSecrets) String() string { return "[redacted]" }

// GoString keeps the values out of anything formatted with %#v.
func (ClientSecrets) GoString() string { return "[redacted]" }

// ClientSecretHash identifies a client secret on the model and the record without revealing it.
func ClientSecretHash(secret string) string {
	sum := sha256.Sum256([]byte("cloudlb client secret\x00" + secret))
	return hex.EncodeToString(sum[:16])
}

// RedactSecrets keeps the values of secrets out of err's message, which may quote a request back (a cloud's
// validation error can), while errors.Is and errors.As still see the error it wraps.
func RedactSecrets(err error, secrets ClientSecrets) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	return &redactedError{err: err, secrets: secrets}
}

type redactedError struct {
	err     error
	secrets ClientSecrets
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, v := range e.secrets {
		if v != "" {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

package cloud

import (
	"errors"
	"fmt"
	"testing"
)

func TestRedactSecrets(t *testing.T) {
	cause := &Error{Kind: KindInvalidSpec, Err: errors.New("Value 'hunter2-secret' at 'clientSecret' failed to satisfy constraint")}
	err := RedactSecrets(fmt.Errorf("modifying rule: %w", cause), ClientSecrets{ClientSecretHash("hunter2-secret"): "hunter2-secret"})
	if got := err.Error(); got != "modifying rule: Value '[redacted]' at 'clientSecret' failed to satisfy constraint" {
		t.Fatalf("message %q", got)
	}
	if got := fmt.Sprintf("%v %+v", err, err); got != err.Error()+" "+err.Error() {
		t.Fatalf("formatted %q", got)
	}
	if !IsInvalidSpec(err) {
		t.Fatal("the error's kind is lost")
	}
	if RedactSecrets(nil, ClientSecrets{"h": "v"}) != nil {
		t.Fatal("nil became an error")
	}
	if fmt.Sprint(ClientSecrets{"h": "v"}) != "[redacted]" || fmt.Sprintf("%#v", ClientSecrets{"h": "v"}) != "[redacted]" {
		t.Fatal("ClientSecrets print their values")
	}
}

package ingress

import (
	"fmt"

	"github.com/cloudlb/cloudlb/cloud"
)

// annManageBackendRules asks, for a load balancer with the user's own security-groups, for what a load balancer
// with a managed frontend group always gets: the shared backend security group, and rules from it on the
// targets' groups. As in the AWS Load Balancer Controller it is group-wide and ignored without security-groups.
const annManageBackendRules = albPrefix + "manage-backend-security-group-rules"

// readBackendRules reads manage-backend-security-group-rules into the member's settings.
func (m *member) readBackendRules(a annotations) error {
	v, err := a.oneOf(annManageBackendRules, "", "true", "false")
	if err != nil {
		return err
	}
	m.settings.BackendRules = v
	// "false" asks for nothing, and in a group another member may bring the security groups it applies to.
	if v == "true" && m.settings.SecurityGroups == "" {
		m.warnings = append(m.warnings, fmt.Sprintf("annotation %s applies only to a load balancer with %s (on this Ingress or "+
			"another member of its group); one with the managed security group gets the backend security group anyway, "+
			"unless --enable-backend-security-group=false", annManageBackendRules, annSecurityGroups))
	}
	return nil
}

// backendRulesModel puts the group's choice into the model, def when no member sets the annotation (nor its class
// the field); only load balancers with the user's groups carry it.
func (s settings) backendRulesModel(lb *cloud.LoadBalancer, def bool) {
	lb.BackendRules = (s.BackendRules == "true" || s.BackendRules == "" && def) && len(lb.SecurityGroups) > 0
}

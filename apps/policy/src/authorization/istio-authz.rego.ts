/** The decision path compiled into the Istio authorization module. */
export const ISTIO_AUTHZ_ENTRYPOINT = 'bowline/istio/authz/decision';

/**
 * The reference semantics: Istio's AuthorizationPolicy semantics, once, as a generic interpreter
 * over data (`data.istio.policies`: the set normalised by `normalisePolicy`, sorted by
 * `<ns>/<name>`; every from/to/when field a condition `{attr, param, values: [{kind, value}],
 * negate}`) on the opa-envoy input. The service and proxies enforce the module
 * `generateIstioAuthz` specialises to each set instead (about 4x cheaper per decision);
 * istio-authz.spec.ts checks that both decide alike on every case.
 *
 * Order, as Istio documents it: CUSTOM (reported, not enforced), then DENY (any match denies),
 * then ALLOW (none applies: allow; some apply but none matches: deny). AUDIT only marks the
 * decision. Dry-run policies are evaluated and reported, never enforced. The decision names
 * the deciding policy and the index of its first matching rule.
 */
export const ISTIO_AUTHZ_REGO = `package bowline.istio.authz

http := object.get(input, ["attributes", "request", "http"], {})

destination := object.get(input, ["bowline", "destination"], {})

# --- attributes: each yields an array of strings, undefined when the request has none ---

attr_values(c) := [v] if {
	c.attr == "source.principal"
	v := trim_prefix(input.attributes.source.principal, "spiffe://")
	v != ""
}

attr_values(c) := [v] if {
	c.attr == "source.namespace"
	v := input.bowline.source.namespace
	is_string(v)
}

attr_values(c) := [v] if {
	c.attr == "source.ip"
	v := input.attributes.source.address.socketAddress.address
}

attr_values(c) := [v] if {
	c.attr == "remote.ip"
	v := object.get(input, ["bowline", "source", "remoteIp"], input.attributes.source.address.socketAddress.address)
}

attr_values(c) := [v] if {
	c.attr == "destination.ip"
	v := input.attributes.destination.address.socketAddress.address
}

attr_values(c) := [v] if {
	c.attr == "destination.port"
	v := destination.port
	is_string(v)
}

attr_values(c) := [lower(http.host)] if {
	c.attr == "request.host"
	is_string(http.host)
}

attr_values(c) := [http.method] if {
	c.attr == "request.method"
	is_string(http.method)
}

attr_values(c) := [split(http.path, "?")[0]] if {
	c.attr == "request.path"
	is_string(http.path)
}

attr_values(c) := [v] if {
	c.attr == "request.headers"
	v := http.headers[c.param[0]]
}

attr_values(c) := [v] if {
	c.attr == "connection.sni"
	v := input.attributes.tlsSession.sni
}

attr_values(c) := [v] if {
	c.attr == "request.auth.principal"
	v := input.bowline.request.auth.principal
	is_string(v)
}

attr_values(c) := [v] if {
	c.attr == "request.auth.presenter"
	v := input.bowline.request.auth.presenter
	is_string(v)
}

attr_values(c) := strings(input.bowline.request.auth.audiences) if c.attr == "request.auth.audiences"

attr_values(c) := strings(object.get(input.bowline.request.auth.claims, c.param, null)) if {
	c.attr == "request.auth.claims"
}

strings(v) := [v] if is_string(v)

strings(v) := [s | some s in v; is_string(s)] if is_array(v)

# --- matching: exact, prefix ("abc*"), suffix ("*abc"), presence ("*"), CIDR blocks ---

matches(m, v) if {
	m.kind == "exact"
	v == m.value
}

matches(m, v) if {
	m.kind == "prefix"
	startswith(v, m.value)
}

matches(m, v) if {
	m.kind == "suffix"
	endswith(v, m.value)
}

matches(m, v) if {
	m.kind == "presence"
	v != ""
}

matches(m, v) if {
	m.kind == "cidr"
	net.cidr_contains(m.value, v)
}

any_match(c) if {
	some v in attr_values(c)
	some m in c.values
	matches(m, v)
}

condition(c) if {
	not c.negate
	any_match(c)
}

condition(c) if {
	c.negate
	not any_match(c)
}

# from[] and to[]: any clause whose conditions all hold; none given: no constraint.
clauses(list) if count(list) == 0

clauses(list) if {
	some clause in list
	every c in clause {
		condition(c)
	}
}

rule_matches(rule) if rule.force == "match"

rule_matches(rule) if {
	rule.force == ""
	clauses(rule.from)
	clauses(rule.to)
	every c in rule.when {
		condition(c)
	}
}

first_rule(p) := [j | some j, rule in p.rules; rule_matches(rule)][0]

# --- which policies apply to the destination workload ---

selected(p) if {
	every k, v in p.selector {
		destination.labels[k] == v
	}
}

scoped(p) if p.mesh

scoped(p) if p.namespace == destination.namespace

applicable := [p | some p in data.istio.policies; scoped(p); selected(p)]

enforced := [p | some p in applicable; not p.dryRun]

hits(action) := [{"policy": p.id, "ruleIndex": j} |
	some p in enforced
	p.action == action
	j := first_rule(p)
]

allow_policies := [p.id | some p in enforced; p.action == "ALLOW"]

dry_run_entry(p) := {"policy": p.id, "action": p.action, "matched": true, "ruleIndex": j} if {
	j := first_rule(p)
} else := {"policy": p.id, "action": p.action, "matched": false, "ruleIndex": null}

dry_run := [dry_run_entry(p) | some p in applicable; p.dryRun]

verdict := {"allowed": false, "action": "DENY", "reason": "a DENY policy matched", "policy": h.policy, "ruleIndex": h.ruleIndex} if {
	h := hits("DENY")[0]
} else := {"allowed": true, "action": "ALLOW", "reason": "no ALLOW policy applies to the workload", "policy": null, "ruleIndex": null} if {
	count(allow_policies) == 0
} else := {"allowed": true, "action": "ALLOW", "reason": "an ALLOW policy matched", "policy": h.policy, "ruleIndex": h.ruleIndex} if {
	h := hits("ALLOW")[0]
} else := {"allowed": false, "action": "DENY", "reason": "ALLOW policies apply to the workload but none matched", "policy": null, "ruleIndex": null}

decision := object.union(verdict, {
	"audit": count(hits("AUDIT")) > 0,
	"auditPolicies": hits("AUDIT"),
	"custom": hits("CUSTOM"),
	"dryRun": dry_run,
	"applicable": [p.id | some p in applicable],
})
`;

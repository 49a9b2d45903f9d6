/** Identities and the baseline Rego policy shared by the decision-log tests. */
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const ADMIN_SA = 'spiffe://cluster.local/ns/shop/sa/admin';
export const STRANGER = 'spiffe://cluster.local/ns/other/sa/stranger';

/** Everyone but the stranger may do anything. */
export const OPEN = `package envoy.authz

default allow := false

allow if input.attributes.source.principal != "${STRANGER}"
`;

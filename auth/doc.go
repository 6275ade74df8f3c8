// Package auth puts the worker's credentials on calls to the Dragonfly
// mainframe, in every way the mainframe has been deployed (docs/contract.md
// § Authentication):
//
//   - Auth0 password grant: a bearer token fetched from the identity
//     provider, cached, renewed before it expires and after a rejection;
//   - Cloudflare Access service token: two headers on every call, plus the
//     CF_Authorization cookie the edge hands back, kept until its exp;
//   - a pre-issued static token, placed as DRAGONFLY_TOKEN_HEADER says;
//   - none, for a development mainframe.
//
// Credentials.Transport wraps the mainframe client's RoundTripper. It
// recognises a rejection (401, 403, a redirect to another host, or the 2023
// server's 500 "Unable to verify credentials"), renews a renewable
// credential and resends the call once, and otherwise backs off so that a
// worker with bad credentials waits instead of hammering the mainframe.
//
// Secrets travel as the Secret type, which prints as [redacted] in every
// format, so none reaches a log line, an error or a metric by accident.
package auth

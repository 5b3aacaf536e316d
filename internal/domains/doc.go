// Package domains proves that an organization controls an email domain: it
// publishes a DNS TXT record whose value carries a token only that organization
// is given, and Checker looks the record up.
//
// The record (Record):
//
//	_gatehouse-challenge.<domain>.  TXT  "gatehouse-verification=<token>"
//
// The token comes from the store (store.Domains): an HMAC of the domain under the
// organization's random secret, so it is the same at every read and different for
// every organization and domain. Other TXT records at that name are ignored, so
// several organizations or servers may publish theirs side by side.
package domains

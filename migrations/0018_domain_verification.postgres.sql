-- Email domain verification (see docs/operations.md, "Identity sources and trust").
-- An org proves a domain by publishing a DNS TXT record
-- _gatehouse-challenge.<domain> = "gatehouse-verification=<token>", where the token
-- is an HMAC of the domain under the org's domain_secret: stable for as long as the
-- org exists, different for every org and domain, and nothing to store per domain.
ALTER TABLE organizations ADD COLUMN domain_secret TEXT NOT NULL DEFAULT '';
-- Two random (v4) UUIDs: 244 random bits from PostgreSQL's strong generator.
UPDATE organizations SET domain_secret = encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex');

-- Who verified a domain: verified_by says how ('dns' or 'operator'), verified_actor
-- who asked (the admin, API token or CLI).
ALTER TABLE org_domains ADD COLUMN verified_actor TEXT NOT NULL DEFAULT '';

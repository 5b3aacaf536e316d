// Command gatehouse is the Gatehouse server and its admin tool: serve, migrate, and the
// commands that create orgs, tokens, SSO connections and demo data.
//
// Every flag may also come from the environment as GATEHOUSE_<FLAG> (upper case, dashes
// as underscores): --db from GATEHOUSE_DB, --external-url from GATEHOUSE_EXTERNAL_URL.
// A flag on the command line wins over the environment.
package main

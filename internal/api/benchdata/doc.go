// Package benchdata seeds a store with an organization of the size the performance
// targets name (100,000 users, 10,000 user groups, 1,000 workspaces, 100,000
// resources), for the API benchmarks and the load tool's api mode.
package benchdata

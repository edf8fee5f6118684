// Package e2e holds end-to-end tests that need more than loopback: clients
// in network namespaces of their own, and a firewall in a namespace, so
// that access rules are proven against real connections from distinct
// addresses. The tests skip, saying why, where namespaces cannot be made.
package e2e

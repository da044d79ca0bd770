// Package layers holds the rule of gatehouse's layering: which of its own
// packages each package may import, and which may speak HTTP. Its test reads
// every package's imports from the source and fails on a package that breaks
// the rule or that the rule does not know yet (docs/architecture.md).
package layers

// Package archtest holds no code, only the test of minirtc's layering rules
// (docs/architecture.md, "Packages"): which minirtc packages each package
// may import. TestImportRules parses the import clauses of every package of
// the repository and fails when a rule is broken, so that a seam the
// redesign made (the hub, the admission seam, edges at the edges) cannot be
// bypassed by an import unnoticed.
package archtest

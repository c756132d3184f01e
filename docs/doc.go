// Package docs holds minirtc's user documentation (Markdown files in this
// directory; docs/README.md is the index) and the test that keeps the
// repository's Markdown self-contained: every relative link and anchor must
// resolve inside the repository, and nothing may point outside it. It has no
// code.
package docs

// Package config holds minirtc's configuration: one struct with every
// setting, its defaults (Default), and loading in one order — defaults, then
// the YAML file (unknown keys are an error), then MINIRTC_* environment
// variables, then command-line flags — followed by Validate.
//
// Environment variable names are derived from the YAML path: the key
// gateway.graceTimeout is MINIRTC_GATEWAY_GRACE_TIMEOUT. The shipped
// minirtc.yml (embedded, see DefaultYAML) lists every key with its default and
// a test proves it equals Default().
//
// Default is the one defaults table. The values components fall back to when
// a field of their own Config is zero come from its leaf package
// internal/config/defaults, which Default is built from; a test fails when a
// package elsewhere keeps a default of its own for a setting.
//
// The package imports nothing from minirtc but that leaf; components receive
// plain values from it, never the whole struct.
package config

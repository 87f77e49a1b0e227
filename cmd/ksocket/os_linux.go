//go:build linux

package main

const linux = true
const goos = "linux"

// Empty: lets main.go declare runtime.nanotime through go:linkname without a body.

package cellar

import (
	"net"
	"net/url"
	"strconv"
)

// Credentials are what a client needs to connect to a database. Password is
// empty except in the one response that reveals it.
type Credentials struct {
	Engine   Engine
	Host     string
	Port     int
	Database string
	Username string
	Password string
}

// ConnectionString renders the credentials as a URL: postgresql://… for
// PostgreSQL (libpq, psql and most drivers take it as is) and mysql://… for
// MariaDB (the scheme drivers and tools recognise). Without a password the
// URL carries only the user.
func (c Credentials) ConnectionString() string {
	scheme := "postgresql"
	if c.Engine == MariaDB {
		scheme = "mysql"
	}
	u := url.URL{
		Scheme: scheme,
		Host:   net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Path:   "/" + c.Database,
	}
	if c.Password != "" {
		u.User = url.UserPassword(c.Username, c.Password)
	} else {
		u.User = url.User(c.Username)
	}
	return u.String()
}

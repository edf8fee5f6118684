package cellar

import "fmt"

// Engine is a database engine Cellar provisions. Its string form is the
// db_type used in the API.
type Engine string

// Engines Cellar supports.
const (
	PostgreSQL Engine = "postgresql"
	MariaDB    Engine = "mariadb"
)

// Engines lists the supported engines in display order.
var Engines = []Engine{PostgreSQL, MariaDB}

// ParseEngine turns a db_type from a request into an Engine.
func ParseEngine(s string) (Engine, error) {
	switch Engine(s) {
	case PostgreSQL, MariaDB:
		return Engine(s), nil
	}
	return "", fmt.Errorf("must be one of postgresql, mariadb")
}

// Short is the engine's tag inside database names: cust_{customer}_{short}_{name}.
func (e Engine) Short() string {
	switch e {
	case PostgreSQL:
		return "pg"
	case MariaDB:
		return "my"
	}
	return ""
}

// DisplayName is the engine's human name.
func (e Engine) DisplayName() string {
	switch e {
	case PostgreSQL:
		return "PostgreSQL"
	case MariaDB:
		return "MariaDB"
	}
	return string(e)
}

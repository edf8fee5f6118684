// Package cellar holds Cellar's domain vocabulary: engines, naming rules,
// permissions and the error codes every other package speaks. It has no
// dependencies beyond the standard library so that every layer can import it.
package cellar

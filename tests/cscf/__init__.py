"""The shared CSCF scaffolding: Cx queries from a sans-I/O core over a real Diameter link."""

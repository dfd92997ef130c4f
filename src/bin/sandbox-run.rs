//! sandbox-run: placeholder until the launcher lands.
fn main() {}

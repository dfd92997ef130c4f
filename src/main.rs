//! sandprobe: can this Linux host run secure sandboxes, and how?
fn main() {}

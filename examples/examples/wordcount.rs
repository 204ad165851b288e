//! Word count on an embedded broker: `cargo run --release -p brook-examples --example wordcount`
//! (add `-- --bootstrap HOST:PORT` to run against a `brook server`).

fn main() -> anyhow::Result<()> {
    let cluster = brook_examples::cluster_from_args()?;
    let counts = brook_examples::wordcount::run(&cluster)?;
    println!("{:<10} count", "word");
    for (word, count) in &counts {
        println!("{word:<10} {count}");
    }
    Ok(())
}

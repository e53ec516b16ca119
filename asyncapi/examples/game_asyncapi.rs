//! Writes the game's AsyncAPI document (`game::api`): `cargo run -p asyncapi --example game_asyncapi -- OUT.json [OUT.html]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let api = game::api();
    match args.next() {
        Some(path) => std::fs::write(&path, api.to_json()).expect("write the JSON document"),
        None => println!("{}", api.to_json()),
    }
    if let Some(path) = args.next() {
        std::fs::write(&path, api.to_html()).expect("write the HTML page");
    }
}

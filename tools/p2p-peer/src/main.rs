//! The `p2p-peer` program: reads the command line and runs the node.

use std::process::ExitCode;

use p2p_peer::arguments::{parse, USAGE};
use p2p_peer::node::run;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments = match parse(std::env::args().skip(1)) {
        Ok(arguments) => arguments,
        Err(error) => {
            eprintln!("p2p-peer: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if arguments.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(&arguments).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("p2p-peer: {error}");
            ExitCode::FAILURE
        }
    }
}

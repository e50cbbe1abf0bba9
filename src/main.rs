//! rand-guard command line: parse arguments, load the configuration, and
//! hand over to `agent::run`. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rand_guard::agent::hygiene::{self, Policy, Role};
use rand_guard::config::{self, Config};
use rand_guard::{agent, offline};

#[derive(Parser)]
#[command(
    name = "rand-guard",
    version,
    about = "A small, explainable Linux EDR agent"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load the BPF programs and write telemetry until SIGINT/SIGTERM.
    Run {
        /// Configuration file (default: $EDR_CONFIG, else /etc/rand-guard/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Output file, or `-` for stdout; overrides [output] path.
        #[arg(long, value_name = "PATH|-")]
        output: Option<String>,
        /// Development only: start even when the configuration, the rules or
        /// the BPF object may be written by someone other than root.
        #[arg(long)]
        insecure_permissions: bool,
    },
    /// Validate the configuration and print the effective settings.
    CheckConfig {
        /// Configuration file (default: $EDR_CONFIG, else /etc/rand-guard/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Work on detection rules offline (docs/rules.md).
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Validate a rules directory and list its rules.
    Check {
        /// Rules directory (default: [rules] dir of the configuration).
        #[arg(long, value_name = "DIR")]
        rules_dir: Option<PathBuf>,
        /// Configuration file (default: $EDR_CONFIG, else /etc/rand-guard/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Replay recorded event records through the detector and print the
    /// alert records they raise (stdout) and a summary (stderr).
    Test {
        /// Rules directory (default: [rules] dir of the configuration).
        #[arg(long, value_name = "DIR")]
        rules_dir: Option<PathBuf>,
        /// JSON-lines file of records written by the agent.
        #[arg(long, value_name = "FILE.jsonl")]
        events: PathBuf,
        /// Configuration for [detections], [alerts], [[exclusions]] and the
        /// [file] filter (default: $EDR_CONFIG, else /etc/rand-guard/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Leave the built-in detections out: only the rules of the directory.
        #[arg(long)]
        no_builtin: bool,
    },
}

fn load_config(flag: Option<PathBuf>) -> Result<(Config, config::Source), ExitCode> {
    let env = std::env::var_os(config::ENV_CONFIG).map(PathBuf::from);
    Config::load(flag.as_deref(), env.as_deref(), &rand_guard::detect::KNOWN).map_err(|e| {
        eprintln!("rand-guard: error: {e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::CheckConfig { config } => match load_config(config) {
            Ok((cfg, source)) => {
                println!("# configuration OK: {source}");
                print!("{}", cfg.to_toml());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Cmd::Rules {
            cmd: RulesCmd::Check { rules_dir, config },
        } => {
            let explicit = rules_dir.is_some();
            let dir = match rules_dir {
                Some(d) => d,
                None => match load_config(config) {
                    Ok((cfg, _)) => cfg.rules.dir,
                    Err(code) => return code,
                },
            };
            match offline::check(&dir, explicit) {
                Ok(listing) => {
                    print!("{listing}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    eprintln!(
                        "rand-guard: error: {} problem(s) in the rules directory {}",
                        e.0.len(),
                        dir.display()
                    );
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Rules {
            cmd:
                RulesCmd::Test {
                    rules_dir,
                    events,
                    config,
                    no_builtin,
                },
        } => {
            let cfg = match load_config(config) {
                Ok((cfg, _)) => cfg,
                Err(code) => return code,
            };
            let explicit = rules_dir.is_some();
            let dir = rules_dir.unwrap_or_else(|| cfg.rules.dir.clone());
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let result = offline::test(&cfg, &dir, explicit, &events, no_builtin, &mut out);
            let flushed = std::io::Write::flush(&mut out);
            match (result, flushed) {
                (Ok(report), Ok(())) => {
                    eprintln!("{report}");
                    ExitCode::SUCCESS
                }
                (Err(e), _) => {
                    eprintln!("{e}");
                    eprintln!("rand-guard: error: rules test stopped");
                    ExitCode::from(2)
                }
                (Ok(_), Err(e)) => {
                    eprintln!("rand-guard: error: writing the alerts failed: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Run {
            config,
            output,
            insecure_permissions,
        } => {
            let policy = if insecure_permissions {
                eprintln!(
                    "rand-guard: warning: --insecure-permissions: the owner and mode of the \
                     configuration, the rules and the BPF object are not checked; for development only"
                );
                Policy::Insecure
            } else {
                Policy::Strict
            };
            let env = std::env::var_os(config::ENV_CONFIG).map(PathBuf::from);
            let (cfg, source) = match load_config(config.clone()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let config::Source::File(path) = &source
                && let Err(e) = hygiene::check(path, Role::Config, policy)
            {
                eprintln!("rand-guard: error: {e}");
                return ExitCode::from(2);
            }
            eprintln!(
                "rand-guard {}: configuration from {source}",
                env!("CARGO_PKG_VERSION")
            );
            let config_path = match &source {
                config::Source::File(p) => Some(p.as_path()),
                config::Source::Defaults(_) => None,
            };
            // SIGHUP reads the configuration again from where it came.
            let reread = || {
                Config::load(
                    config.as_deref(),
                    env.as_deref(),
                    &rand_guard::detect::KNOWN,
                )
            };
            match agent::run(&cfg, output.as_deref(), config_path, policy, &reread) {
                Ok(s) => {
                    let list = |v: &[(&str, u64)]| {
                        v.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    let channel: u64 = s.channel_full_drops_total.iter().map(|(_, n)| n).sum();
                    eprintln!(
                        "rand-guard: stopped: {} records read, {} events and {} alerts written, \
                         {} userspace-filtered, {} invalid, {} unsupported, {} channel-full drops, \
                         {} output failures (dropped: {}; by kind: {}); kernel ring-buffer drops: {}",
                        s.raw_events_total,
                        s.events_output_total,
                        s.alerts_output_total,
                        s.userspace_filtered_total,
                        s.invalid_schema_total,
                        s.unsupported_kind_total,
                        channel,
                        s.output_failures_total,
                        list(&s.output_buffer_drops_total),
                        list(&s.output_buffer_drops_by_kind_total),
                        list(&s.kernel_ringbuf_drops_total),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rand-guard: error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

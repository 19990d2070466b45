//! `ntpkit viz` on statistics written by real daemons: our ntpd (observe-only) and NTPsec's
//! ntpd, each a client of an NTPsec server on a namespace LAN with `statistics loopstats
//! peerstats` and day `filegen`s, then the page rendered by headless Chromium and the
//! screenshot checked not to be blank. A short run's files are sparse, so an ntpsim run's
//! loopstats is overlaid too (and gives the deviation plots a long series).

mod common;

use common::lan::Lan;
use common::{ntpd, peers};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every section `ntpkit viz` draws; all must be drawn for these inputs.
const SECTIONS: &[&str] = &[
    "summary",
    "local-offset",
    "local-freq",
    "local-jitter",
    "local-stability",
    "local-offset-histogram",
    "peer-offsets",
    "peer-jitters",
    "peer-rtt",
    "adev",
    "tdev",
    "sim-overlay",
];

const STATS_CONF: &str = "statistics loopstats peerstats\n\
     filegen loopstats file loopstats type day enable\n\
     filegen peerstats file peerstats type day enable\n";

fn lines(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    // the day file only: the base name is a link to it
                    n.starts_with(prefix) && n.contains('.')
                })
                .map(|e| {
                    std::fs::read_to_string(e.path())
                        .unwrap_or_default()
                        .lines()
                        .count()
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Decode a PNG: (width, height, distinct colours, share of pixels that are not white).
fn png_stats(path: &Path) -> (u32, u32, usize, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    for p in data.chunks(px) {
        let rgb = [p[0], p[1 % px], p[2 % px]];
        colours.insert(rgb);
        if rgb.iter().any(|c| *c < 240) {
            non_white += 1;
        }
    }
    let n = (info.width * info.height) as f64;
    (info.width, info.height, colours.len(), non_white as f64 / n)
}

/// Headless Chromium's screenshot of `html`, taken inside LAN host `i` (a namespace with no
/// route off the LAN: the browser's background requests go nowhere).
fn screenshot(lan: &Lan, i: usize, html: &Path, png: &Path) {
    let profile = lan.dir().join(format!("chromium-{i}"));
    let url = format!("file://{}", html.display());
    let out = lan.run(
        i,
        &[
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,2600",
            &url,
        ],
    );
    assert!(
        png.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn viz(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::ntpkit_bin())
        .arg("viz")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn root_netns_viz_renders_ours_and_ntpsecs_stats_in_chromium() {
    let test = "root_netns_viz_renders_ours_and_ntpsecs_stats_in_chromium";
    if !common::needs(test, &[("ntpd", "ntpsec"), ("chromium", "chromium")]) {
        return;
    }
    let Some(lan) = common::lan_or_skip(test, 3) else {
        return;
    };
    let started = Instant::now();
    peers::ntpsec_server(&lan, 1, 5, "");
    peers::wait_serving(&lan, 2, "198.18.0.1", Duration::from_secs(20)).expect("NTPsec serving");
    let dirs: Vec<PathBuf> = [2, 3]
        .iter()
        .map(|i| {
            let d = lan.host(*i).dir.join("ntpstats");
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .collect();
    // ours on host 2, NTPsec's on host 3, both clients of host 1
    ntpd::start(
        &lan,
        2,
        &format!(
            "server 198.18.0.1 iburst minpoll 3 maxpoll 3\nstatsdir {}/\n{STATS_CONF}",
            dirs[0].display()
        ),
        &[],
    );
    // with a drift file NTPsec starts in FSET and writes loopstats from the first update;
    // without one it measures the frequency for 300 s first (ntpd's FREQ state)
    std::fs::write(lan.host(3).dir.join("ntp.drift"), "0.000\n").unwrap();
    peers::ntpsec_client(
        &lan,
        3,
        &[],
        &format!(
            "server 198.18.0.1 iburst minpoll 3 maxpoll 3\nstatsdir {}/\n{STATS_CONF}",
            dirs[1].display()
        ),
    );
    // about 30 s of statistics: a few samples per source, and clock updates (NTPsec
    // updates the clock on only some of its samples, its clock filter's, 20-40 s apart)
    for (dir, host, log) in [(&dirs[0], 2, "ntpkit.log"), (&dirs[1], 3, "ntpsec.log")] {
        lan.wait_for(Duration::from_secs(120), || {
            (started.elapsed() >= Duration::from_secs(30)
                && lines(dir, "loopstats") >= 1
                && lines(dir, "peerstats") >= 5)
                .then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "host {host}: {} loopstats, {} peerstats lines in {dir:?}:\n{}",
                lines(dir, "loopstats"),
                lines(dir, "peerstats"),
                lan.log(host, log)
            )
        });
    }
    eprintln!(
        "MEASURED: stats for both daemons after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // a longer run of the model: the same LAN-like network, 6 simulated hours
    let sim = lan.dir().join("sim.loopstats");
    let out = Command::new(env!("CARGO_BIN_EXE_ntpsim"))
        .args(["--minpoll", "4", "--maxpoll", "6", "--duration", "21600"])
        .arg("--loopstats")
        .arg(&sim)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keep = std::env::var_os("NTPKIT_VIZ_KEEP").map(PathBuf::from);

    for (dir, who) in [(&dirs[0], "ntpkit"), (&dirs[1], "ntpsec")] {
        let html = dir.join("ntp.html");
        let (ok, _, err) = viz(&[
            dir.to_str().unwrap(),
            "--sim",
            sim.to_str().unwrap(),
            "--period",
            "1d",
            "--title",
            &format!("{who}'s ntpd on a namespace LAN"),
            "-o",
            html.to_str().unwrap(),
        ]);
        assert!(ok, "{who}: ntpkit viz failed: {err}");
        let page = std::fs::read_to_string(&html).unwrap();
        for s in SECTIONS {
            let at = page
                .find(&format!("<section id=\"{s}\">"))
                .unwrap_or_else(|| panic!("{who}: no section {s}"));
            let section = &page[at..at + page[at..].find("</section>").unwrap()];
            assert!(
                !section.contains("Not drawn") && (*s == "summary" || section.contains("<svg")),
                "{who}: {s} not drawn: {}",
                &section[..section.len().min(400)]
            );
        }
        // self-contained: no script, nothing fetched
        assert!(!page.contains("<script") && !page.contains("src=\"http"));
        // the peer is in the per-peer plots and has its own Allan deviation
        let adev = &page[page.find("<section id=\"adev\">").unwrap()..];
        assert!(adev[..adev.find("</section>").unwrap()].contains("198.18.0.1"));

        let png = dir.join("ntp.png");
        screenshot(&lan, 3, &html, &png);
        let (w, h, colours, ink) = png_stats(&png);
        eprintln!(
            "MEASURED: {who}: page {} kB, screenshot {w}x{h}, {colours} colours, {:.1} % not white",
            page.len() / 1024,
            ink * 100.0
        );
        assert_eq!((w, h), (1000, 2600));
        // text in black, the plots' blue, grid greys, antialiasing: a blank page has one
        assert!(colours >= 16, "{who}: {colours} colours: blank?");
        assert!(ink > 0.02, "{who}: {:.2} % ink: blank?", ink * 100.0);
        if let Some(k) = &keep {
            std::fs::create_dir_all(k).unwrap();
            std::fs::copy(&html, k.join(format!("{who}.html"))).unwrap();
            std::fs::copy(&png, k.join(format!("{who}.png"))).unwrap();
        }
    }
}

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde_json::Value as Json;

use super::*;
use crate::config::EngineConfig;
use crate::engine::{clock, Engine};

fn parse(body: &str) -> Json {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not strict JSON ({e}): {body}"))
}

/// Track rows, log lines and metric points an engine sealed come back as the contract's bodies:
/// strict JSON (non-finite floats as null, non-ASCII as UTF-8), every row once, in bounded
/// batches; a records cursor resumes exactly where the last batch ended.
#[test]
fn bodies_carry_what_the_engine_sealed() {
    let _commits = clock::ACTIVITY_IN_TESTS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = std::env::temp_dir().join(format!("dash-remote-bodies-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let engine = Engine::start(&root, "p/bodies", EngineConfig::NEVER).unwrap();
    let topic = engine.define_topic("robot/state").unwrap();
    let entries: Vec<String> = (0..25)
        .map(|i| format!("{{\"timestamp\": {i}.5, \"step\": {i}, \"pose\": {{\"x\": {i}}}, \"name\": \"é{i}\"}}"))
        .collect();
    let body = format!("{{\"entries\": [{}]}}", entries.join(","));
    engine.commit_json_entries(topic, body.as_bytes()).unwrap();
    engine
        .log(
            "2026-12-01T10:00:00.000001Z",
            "info",
            "bonjour ü",
            Some("{\"k\": 1}"),
            false,
        )
        .unwrap();
    engine
        .log("2026-12-01T10:00:01Z", "warn", "second", None, false)
        .unwrap();
    engine
        .log("2026-12-01T10:00:02Z", "error", "third", None, false)
        .unwrap();
    engine
        .log_metric("eval/loss", "{\"step\": 0, \"loss\": NaN, \"_ts\": 1.5}", false)
        .unwrap();
    engine.log_metric("None", "{\"epoch\": 1}", false).unwrap();
    engine.flush().unwrap().wait(Duration::from_secs(30)).unwrap();
    assert!(engine.stats().segments_written.load(Relaxed) >= 1);
    let dir = engine.dir().to_path_buf();

    let tracks = track_segments(&dir).unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].topic, "robot/state");
    assert_eq!(tracks[0].dir_name, "robot_state");
    let mut timestamps = Vec::new();
    for segment in &tracks[0].segments {
        let bodies = track_bodies(&dir, &tracks[0].dir_name, &segment.file, 10).unwrap();
        assert_eq!(bodies.iter().map(|(_, n)| *n as u64).sum::<u64>(), segment.rows);
        for (body, count) in bodies {
            assert!(count <= 10);
            assert!(body.contains("\"name\":\"é"), "UTF-8, compact: {body}");
            let entries = parse(&body)["entries"].as_array().unwrap().clone();
            assert_eq!(entries.len(), count);
            for entry in entries {
                let ts = entry["timestamp"].as_f64().unwrap();
                assert_eq!(entry["step"].as_f64().unwrap(), ts - 0.5);
                assert_eq!(entry["pose.x"].as_f64().unwrap(), ts - 0.5);
                timestamps.push(ts);
            }
        }
    }
    timestamps.sort_by(f64::total_cmp);
    assert_eq!(timestamps, (0..25).map(|i| f64::from(i) + 0.5).collect::<Vec<_>>());

    // Logs in batches of two: the cursor picks up where the last one ended, and ends at the end.
    let first = record_batch(&dir, &Records::Logs, 0, 2).unwrap();
    assert_eq!((first.lines, first.unreadable), (2, 0));
    let logs = parse(first.body.as_deref().unwrap());
    assert_eq!(logs["logs"][0]["message"], "bonjour ü");
    assert_eq!(logs["logs"][0]["timestamp"], "2026-12-01T10:00:00.000001Z");
    assert_eq!(logs["logs"][0]["metadata"]["k"], 1);
    assert!(logs["logs"][1].get("metadata").is_none());
    assert!(logs["logs"][0].get("sequenceNumber").is_none());
    let second = record_batch(&dir, &Records::Logs, first.next_offset, 2).unwrap();
    assert_eq!(second.lines, 1);
    assert_eq!(parse(second.body.as_deref().unwrap())["logs"][0]["level"], "error");
    let end = record_batch(&dir, &Records::Logs, second.next_offset, 2).unwrap();
    assert_eq!((end.body, end.lines, end.next_offset), (None, 0, second.next_offset));

    assert_eq!(metric_names(&dir).unwrap(), ["None", "eval/loss"]);
    let loss = record_batch(&dir, &Records::Metric("eval/loss".into()), 0, 1000).unwrap();
    let points = parse(loss.body.as_deref().unwrap());
    assert_eq!(points["dataPoints"][0]["loss"], Json::Null, "NaN travels as null");
    assert_eq!(points["dataPoints"][0]["_ts"], 1.5);
    assert!(record_batch(&dir, &Records::Metric("../escape".into()), 0, 10).is_err());
    assert!(track_bodies(&dir, "..", "seg-1.parquet", 10).is_err());
    assert!(track_bodies(&dir, "robot_state", "../../experiment.json", 10).is_err());
    drop(engine);
    std::fs::remove_dir_all(root).ok();
}

/// A line a writer has not finished is not taken; a garbled complete line is skipped and counted.
#[test]
fn record_batches_take_complete_lines_only() {
    let dir = std::env::temp_dir().join(format!("dash-remote-lines-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let good =
        "{\"sequenceNumber\": 0, \"timestamp\": \"2026-12-01T10:00:00Z\", \"level\": \"info\", \"message\": \"a\"}\n";
    let text = format!("{good}garbled\n{good}{{\"sequenceNumber\": 3, \"timest");
    std::fs::write(dir.join("logs/logs.jsonl"), &text).unwrap();
    let batch = record_batch(&dir, &Records::Logs, 0, 100).unwrap();
    assert_eq!((batch.lines, batch.unreadable), (2, 1));
    assert_eq!(batch.next_offset as usize, good.len() * 2 + "garbled\n".len());
    std::fs::remove_dir_all(dir).ok();
}

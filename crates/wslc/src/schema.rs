//! The JSON that ContainerStarted and ImageCreated hand to plugins: WSL's
//! `wslc_schema` shapes (SPEC §11), built from the engine's inspect output.
//!
//! Only the fields of the schema are kept, with the engine's values; a field
//! the engine left out is `null` (or empty for lists and maps), so plugins
//! can rely on every key being present.

use serde_json::{json, Map, Value};

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| v.get(k).unwrap_or(&Value::Null))
}

fn or_empty_list(v: &Value) -> Value {
    if v.is_array() {
        v.clone()
    } else {
        Value::Array(Vec::new())
    }
}

fn or_empty_map(v: &Value) -> Value {
    if v.is_object() {
        v.clone()
    } else {
        Value::Object(Map::new())
    }
}

/// `InspectContainer` from `GET /containers/{id}/json`.
pub fn container(inspect: &Value) -> Value {
    let f = |path: &[&str]| field(inspect, path).clone();
    let name = field(inspect, &["Name"])
        .as_str()
        .map(|n| n.trim_start_matches('/').to_string());
    let labels = or_empty_map(field(inspect, &["Config", "Labels"]));
    let mounts: Vec<Value> = field(inspect, &["Mounts"])
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    json!({
                        "Type": field(m, &["Type"]),
                        "Source": field(m, &["Source"]),
                        "Destination": field(m, &["Destination"]),
                        "RW": field(m, &["RW"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "Id": f(&["Id"]),
        "Name": name,
        "Created": f(&["Created"]),
        "Image": f(&["Config", "Image"]),
        "State": {
            "Status": f(&["State", "Status"]),
            "Running": f(&["State", "Running"]),
            "ExitCode": f(&["State", "ExitCode"]),
            "StartedAt": f(&["State", "StartedAt"]),
            "FinishedAt": f(&["State", "FinishedAt"]),
        },
        "Config": {
            "Env": or_empty_list(field(inspect, &["Config", "Env"])),
            "Cmd": or_empty_list(field(inspect, &["Config", "Cmd"])),
            "Entrypoint": or_empty_list(field(inspect, &["Config", "Entrypoint"])),
            "User": f(&["Config", "User"]),
            "WorkingDir": f(&["Config", "WorkingDir"]),
            "Labels": labels.clone(),
        },
        "HostConfig": { "NetworkMode": f(&["HostConfig", "NetworkMode"]) },
        "Mounts": mounts,
        "Labels": labels,
    })
}

/// `InspectImage` from `GET /images/{name}/json`.
pub fn image(inspect: &Value) -> Value {
    let f = |path: &[&str]| field(inspect, path).clone();
    json!({
        "Id": f(&["Id"]),
        "RepoTags": or_empty_list(field(inspect, &["RepoTags"])),
        "Created": f(&["Created"]),
        "Architecture": f(&["Architecture"]),
        "Os": f(&["Os"]),
        "Size": f(&["Size"]),
        "Config": {
            "Cmd": or_empty_list(field(inspect, &["Config", "Cmd"])),
            "Entrypoint": or_empty_list(field(inspect, &["Config", "Entrypoint"])),
            "Env": or_empty_list(field(inspect, &["Config", "Env"])),
            "WorkingDir": f(&["Config", "WorkingDir"]),
            "Labels": or_empty_map(field(inspect, &["Config", "Labels"])),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_keeps_the_schema_fields_with_the_engine_values() {
        let engine = json!({
            "Id": "abc", "Name": "/web", "Created": "2026-12-04T00:00:00Z",
            "State": {"Status": "running", "Running": true, "ExitCode": 0,
                      "StartedAt": "s", "FinishedAt": "f", "Pid": 7},
            "Config": {"Image": "bb:1", "Cmd": ["true"], "Env": ["A=1"], "User": "",
                       "WorkingDir": "/", "Labels": {"wslp.example/deny": "true"}},
            "HostConfig": {"NetworkMode": "host", "Privileged": false},
            "Mounts": [{"Type": "bind", "Source": "/h", "Destination": "/c", "RW": false, "Mode": ""}],
        });
        let c = container(&engine);
        assert_eq!(c["Name"], "web");
        assert_eq!(c["Image"], "bb:1");
        assert_eq!(c["State"]["Running"], true);
        assert!(c["State"].get("Pid").is_none());
        assert_eq!(c["Config"]["Entrypoint"], json!([]));
        assert_eq!(c["Labels"]["wslp.example/deny"], "true");
        assert_eq!(c["HostConfig"], json!({"NetworkMode": "host"}));
        assert_eq!(c["Mounts"][0]["RW"], false);
        assert!(c["Mounts"][0].get("Mode").is_none());
    }

    #[test]
    fn an_image_without_a_config_still_has_every_key() {
        let i = image(&json!({"Id": "sha256:1", "RepoTags": ["bb:1"], "Os": "linux"}));
        assert_eq!(i["RepoTags"], json!(["bb:1"]));
        assert_eq!(i["Config"]["Cmd"], json!([]));
        assert_eq!(i["Config"]["Labels"], json!({}));
        assert_eq!(i["Architecture"], Value::Null);
    }
}

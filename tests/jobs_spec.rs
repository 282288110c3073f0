//! The one job builder, `JobSpec`, and the body it produces: the official client's shapes,
//! the checks run before anything is sent (tables of fields at fault), the parameters
//! file, ids and names. Nothing here is sent: `request()` is pure but for the file.

use roboflow_batch::BatchApi;
use roboflow_batch::jobs::JobSpec;
use roboflow_batch::model::{
    AggregationFormat, CompilationDevice, JobStartRequest, MachineType, TrtCompilationRequest,
};

fn api() -> BatchApi {
    BatchApi::builder().api_key("k").build().unwrap()
}

/// The field an invalid spec is refused for, or `None` when it is valid.
fn refused(spec: JobSpec<'_>) -> Option<String> {
    spec.request().err().map(|e| e.to_string())
}

#[test]
fn the_minimal_body_is_the_official_clients() {
    let api = api();
    let req = JobSpec::images(&api, "b", "wf")
        .workspace("ws")
        .request()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        serde_json::json!({
            "type": "simple-image-processing-v1",
            "jobInput": {"type": "staging-batch-input-v1", "batchId": "b"},
            "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "cpu"},
            "processingSpecification": {
                "type": "workflows-processing-specification-v1",
                "workspace": "ws", "workflowId": "wf", "persistImagesOutputs": false
            }
        })
    );
    // The official client leaves machineType out: read as cpu.
    let body = r#"{"type":"simple-image-processing-v1","jobInput":{"type":"staging-batch-input-v1","batchId":"b"},
        "computeConfiguration":{"type":"compute-configuration-v2"},
        "processingSpecification":{"type":"workflows-processing-specification-v1","workspace":"w","workflowId":"wf","persistImagesOutputs":false}}"#;
    let req: JobStartRequest = serde_json::from_str(body).unwrap();
    assert_eq!(req.compute_configuration.machine_type, MachineType::Cpu);
    // A whole frame rate goes as an integer, as the official client sends it.
    let req = JobSpec::videos(&api, "b", "wf")
        .max_video_fps(5.0)
        .request()
        .unwrap();
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!(
        json["processingSpecification"]["maxVideoFPS"].to_string(),
        "5"
    );
}

#[test]
fn each_check_names_its_field() {
    let api = api();
    let base = || JobSpec::images(&api, "batch", "wf");
    let video = || JobSpec::videos(&api, "b", "wf");
    let cases: Vec<(JobSpec<'_>, Option<&str>)> = vec![
        (base(), None),
        (base().max_image_failure_rate(0.0), None),
        (base().max_image_failure_rate(1.0), None),
        (
            base().max_image_failure_rate(1.01),
            Some("maxImageFailureRate"),
        ),
        (
            base().max_image_failure_rate(f64::NAN),
            Some("maxImageFailureRate"),
        ),
        (
            base().machine_type(MachineType::Other("tpu".into())),
            Some("machineType"),
        ),
        (
            base().aggregation_format(AggregationFormat::Other("xml".into())),
            Some("aggregationFormat"),
        ),
        (
            JobSpec::images(&api, "Bad Batch", "wf"),
            Some("jobInput.batchId"),
        ),
        (JobSpec::images(&api, "b", " "), Some("workflowId")),
        (base().workers_per_machine(0), Some("workersPerMachine")),
        (base().max_parallel_tasks(0), Some("maxParallelTasks")),
        (
            base().max_runtime_seconds(0),
            Some("processingTimeoutSeconds"),
        ),
        (
            base().notifications_url("ftp://x"),
            Some("notificationsURL"),
        ),
        (video().max_video_fps(0.0), Some("maxVideoFPS")),
        (base().job_id("Not Valid"), Some("job_id")),
        (base().name(" "), Some("job name")),
        (base().name("a\nb"), Some("job name")),
        // The service refuses these on a video job; the official client offers them for
        // images only.
        (video(), None),
        (
            video().max_image_failure_rate(0.1),
            Some("maxImageFailureRate"),
        ),
        (
            video().images_metadata_part("meta"),
            Some("jobInput.imagesMetadataPart"),
        ),
        (
            video().metadata_mapping("conf", "confidence"),
            Some("processingSpecification.imagesMetadataInputsMapping"),
        ),
        (
            base()
                .max_image_failure_rate(0.1)
                .images_metadata_part("meta")
                .metadata_mapping("conf", "confidence"),
            None,
        ),
    ];
    for (spec, want) in cases {
        let got = refused(spec);
        match (&got, want) {
            (None, None) => {}
            (Some(e), Some(field)) => assert!(e.contains(field), "{e} vs {field}"),
            _ => panic!("{got:?} but wanted an error in {want:?}"),
        }
    }
    let err = refused(video().images_metadata_part("m")).unwrap();
    assert_eq!(
        err,
        "invalid jobInput.imagesMetadataPart: is for image jobs only; a video job \
         (simple-video-processing-v1) cannot take it"
    );
}

#[test]
fn the_parameters_file_is_read_and_named_in_every_error() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("params.json");
    let spec = || JobSpec::images(&api, "b", "wf").workflow_parameters_file(&path);
    std::fs::write(&path, r#"{"fraction": 0.25}"#).unwrap();
    let req = spec().request().unwrap();
    let params = req.processing_specification.workflow_parameters.unwrap();
    assert_eq!(params["fraction"], 0.25);
    for (content, says) in [
        ("{oops".to_string(), "line 1"),
        ("[1, 2]".to_string(), "found an array"),
        ("\"x\"".to_string(), "found a string"),
        (" ".repeat((1 << 20) + 1), "byte limit"),
    ] {
        std::fs::write(&path, content).unwrap();
        let err = refused(spec()).unwrap();
        assert!(err.contains("params.json") && err.contains(says), "{err}");
    }
    std::fs::remove_file(&path).unwrap();
    assert!(refused(spec()).unwrap().contains("params.json"));
    // Parameters given after the file replace it.
    let req = spec()
        .workflow_parameters(serde_json::Map::new())
        .request()
        .unwrap();
    assert_eq!(
        req.processing_specification.workflow_parameters,
        Some(serde_json::Map::new())
    );
}

#[test]
fn ids_are_drawn_once_per_spec_and_names_default_to_the_workflow_and_batch() {
    let api = api();
    let a = JobSpec::images(&api, "b", "wf");
    let b = JobSpec::images(&api, "b", "wf");
    assert_ne!(a.id(), b.id(), "each spec draws its own id");
    assert_eq!(a.id(), a.clone().id(), "a spec keeps its id");
    assert!(
        a.id().starts_with("job-") && a.id().len() == 16,
        "{}",
        a.id()
    );
    assert_eq!(a.display_name(), "wf on b");
    assert_eq!(a.clone().part_name("train").display_name(), "wf on b/train");
    assert_eq!(a.name("Nightly").display_name(), "Nightly");
}

#[test]
fn debug_hides_webhook_url_secrets() {
    let api = api();
    let hook = "https://hooks.example/x?token=hook-secret-123";
    let job = JobSpec::images(&api, "b", "wf").notifications_url(hook);
    let trt = TrtCompilationRequest::new("m/1", vec![CompilationDevice::NvidiaT4])
        .notifications_url(hook);
    for shown in [
        format!("{:?}", job.request().unwrap()),
        format!("{job:?}"),
        format!("{trt:?}"),
    ] {
        assert!(!shown.contains("hook-secret-123"), "{shown}");
        assert!(shown.contains("hooks.example/x"), "{shown}");
    }
}

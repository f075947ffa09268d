//! Plans and decoders over every format: the shipped schemas, Confluent ids, field names for
//! JSON and CSV, defaults, and the configuration errors the flags can make.

use super::avro::tests::to_avro_datum;
use apache_avro::types::Value;

use super::*;

fn columns(table: &str, spec: &str) -> MappingFlags {
    MappingFlags::choose(table, None, Some(spec), None, None).unwrap()
}

fn opts(format: Format, table: &str, schemas: Vec<SchemaFile>) -> DecodeOptions {
    DecodeOptions {
        format,
        schemas,
        fields: None,
        mapping: MappingFlags::choose(table, None, None, None, None)
            .unwrap_or_else(|_| columns(table, "HBASE_ROW_KEY,e:a")),
    }
}

fn customer_record(schema: &apache_avro::Schema) -> Vec<u8> {
    let mut rec = Vec::new();
    let apache_avro::Schema::Record(r) = schema else {
        panic!("record");
    };
    for f in &r.fields {
        let v = match f.schema {
            apache_avro::Schema::Double => Value::Double(match f.name.as_str() {
                "customer_id" => 5868.0,
                "home_location_lat" => -7.84193,
                _ => 110.4,
            }),
            _ => Value::String(format!("{}-v", f.name)),
        };
        rec.push((f.name.clone(), v));
    }
    to_avro_datum(schema, Value::Record(rec)).unwrap()
}

#[test]
fn the_four_shipped_schemas_fit_their_mappings() {
    for (table, fields) in [
        ("customers", 15),
        ("product", 10),
        ("transactions", 14),
        ("clickstream", 6),
    ] {
        let p = Plan::new(&opts(Format::Avro, table, vec![])).unwrap();
        assert_eq!(p.layouts().len(), 1);
        let l = &p.layouts()[0];
        assert_eq!(l.header.len(), fields, "{table}");
        assert_eq!(
            l.header,
            crate::mapping::builtin_header(table).unwrap(),
            "{table}: the schema's fields are the CSV header"
        );
        // The pipeline's names choose the same mapping.
        let pipeline = match table {
            "customers" => "customer",
            "clickstream" => "click_stream",
            t => t,
        };
        Plan::new(&opts(Format::Avro, pipeline, vec![])).unwrap();
    }
}

#[test]
fn schemaless_avro_decodes_with_the_default_schema() {
    let p = Plan::new(&opts(Format::Avro, "customers", vec![])).unwrap();
    let schema = apache_avro::Schema::parse_str(builtin_schema("customers").unwrap()).unwrap();
    let d = p.decoder().unwrap();
    let mut f = Fields::default();
    assert_eq!(d.decode(&customer_record(&schema), &mut f).unwrap(), 0);
    assert_eq!(f.get(0), b"5868");
    assert_eq!(f.get(1), b"first_name-v");
    assert_eq!(f.get(10), b"-7.84193");
    assert_eq!(f.get(11), b"110.4");
}

#[test]
fn confluent_frames_pick_the_schema_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.avsc");
    std::fs::write(&v1, builtin_schema("customers").unwrap()).unwrap();
    // v2: customer_id as a long, plus a field the mapping ignores.
    let v2_text = builtin_schema("customers")
        .unwrap()
        .replacen(r#""type": "double""#, r#""type": "long""#, 1)
        .replacen(
            r#""fields": ["#,
            r#""fields": [{"name": "extra", "type": "string"},"#,
            1,
        );
    let v2 = dir.path().join("v2.avsc");
    std::fs::write(&v2, &v2_text).unwrap();
    let schemas = vec![
        format!("7={}", v1.display()).parse().unwrap(),
        format!("9={}", v2.display()).parse().unwrap(),
    ];
    let p = Plan::new(&opts(Format::AvroConfluent, "customers", schemas)).unwrap();
    assert_eq!(p.layouts().len(), 2);
    let d = p.decoder().unwrap();
    let mut f = Fields::default();

    let s1 = apache_avro::Schema::parse_str(builtin_schema("customers").unwrap()).unwrap();
    let mut framed = vec![0, 0, 0, 0, 7];
    framed.extend(customer_record(&s1));
    assert_eq!(d.decode(&framed, &mut f).unwrap(), 0);
    assert_eq!(f.get(0), b"5868");

    let s2 = apache_avro::Schema::parse_str(&v2_text).unwrap();
    let mut rec = vec![("extra".to_string(), Value::String("x".into()))];
    let apache_avro::Schema::Record(r) = &s2 else {
        panic!()
    };
    for field in r.fields.iter().skip(1) {
        rec.push((
            field.name.clone(),
            match field.schema {
                apache_avro::Schema::Long => Value::Long(42),
                apache_avro::Schema::Double => Value::Double(1.5),
                _ => Value::String("s".into()),
            },
        ));
    }
    let mut framed = vec![0, 0, 0, 0, 9];
    framed.extend(to_avro_datum(&s2, Value::Record(rec)).unwrap());
    let layout = d.decode(&framed, &mut f).unwrap();
    assert_eq!(layout, 1);
    let l = &p.layouts()[1];
    let id_pos = l.header.iter().position(|h| h == "customer_id").unwrap();
    assert_eq!(f.get(id_pos), b"42");

    let mut unknown = vec![0, 0, 0, 0, 8];
    unknown.extend(customer_record(&s1));
    assert_eq!(
        d.decode(&unknown, &mut f).unwrap_err(),
        "schema id 8 is not one of the --avro-schema ids (7, 9)"
    );
    assert!(d.decode(&customer_record(&s1), &mut f).is_err());
}

#[test]
fn json_and_csv_take_field_names_from_the_builtin_header_or_flags() {
    let p = Plan::new(&opts(Format::Json, "clickstream", vec![])).unwrap();
    let d = p.decoder().unwrap();
    let mut f = Fields::default();
    // event_metadata missing: the shipped schema's default "" fills it; session_id has a
    // default too.
    d.decode(
        br#"{"event_name": "HOMEPAGE", "event_time": "t", "event_id": "e", "traffic_source": "WEB"}"#,
        &mut f,
    )
    .unwrap();
    assert_eq!((f.get(0), f.get(5)), (&b""[..], &b""[..]));
    let err = d
        .decode(br#"{"session_id": "s", "event_name": "HOMEPAGE"}"#, &mut f)
        .unwrap_err();
    assert_eq!(err, "missing field event_time");

    let p = Plan::new(&opts(Format::Csv, "product", vec![])).unwrap();
    let d = p.decoder().unwrap();
    d.decode(
        b"15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,\"Turtle, Shirt\"\n",
        &mut f,
    )
    .unwrap();
    assert_eq!(f.get(9), b"Turtle, Shirt");

    let mut o = opts(Format::Csv, "events", vec![]);
    let err = Plan::new(&o).unwrap_err();
    assert!(err.contains("--fields"), "{err}");
    o.fields = Some(vec!["k".into(), "a".into()]);
    let p = Plan::new(&o).unwrap();
    p.decoder().unwrap().decode(b"key1,v", &mut f).unwrap();
    assert_eq!((f.get(0), f.get(1)), (&b"key1"[..], &b"v"[..]));
    assert_eq!(p.families(), vec!["e".to_string()]);
}

#[test]
fn flag_combinations_that_cannot_work_are_named() {
    let err = Plan::new(&opts(Format::AvroConfluent, "customers", vec![])).unwrap_err();
    assert!(err.contains("ID=FILE"), "{err}");
    let no_id: SchemaFile = "x.avsc".parse().unwrap();
    assert_eq!(no_id.id, None);
    let err = Plan::new(&opts(Format::AvroConfluent, "customers", vec![no_id])).unwrap_err();
    assert!(err.contains("needs a schema id"), "{err}");
    let with_id: SchemaFile = "3=x.avsc".parse().unwrap();
    assert_eq!(with_id.id, Some(3));
    let err = Plan::new(&opts(Format::Avro, "customers", vec![with_id])).unwrap_err();
    assert!(err.contains("avro-confluent"), "{err}");
    let missing: SchemaFile = "/nonexistent/x.avsc".parse().unwrap();
    let err = Plan::new(&opts(Format::Avro, "customers", vec![missing])).unwrap_err();
    assert!(err.contains("/nonexistent/x.avsc"), "{err}");
    let err = Plan::new(&opts(Format::Avro, "events", vec![])).unwrap_err();
    assert!(err.contains("--avro-schema FILE"), "{err}");
    let mut o = opts(Format::Avro, "customers", vec![]);
    o.fields = Some(vec!["a".into()]);
    assert!(Plan::new(&o).is_err());
    assert_eq!(
        "avro-confluent".parse::<Format>(),
        Ok(Format::AvroConfluent)
    );
    assert!("xml".parse::<Format>().is_err());

    // A schema that lacks a field of the mapping (and has no default for it) does not fit.
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.avsc");
    std::fs::write(
        &short,
        r#"{"type":"record","name":"p","fields":[{"name":"id","type":"double"}]}"#,
    )
    .unwrap();
    let err = Plan::new(&opts(
        Format::Avro,
        "product",
        vec![short.display().to_string().parse().unwrap()],
    ))
    .unwrap_err();
    assert!(
        err.contains("does not fit the mapping of table product"),
        "{err}"
    );
    assert!(err.contains("\"gender\""), "{err}");
}

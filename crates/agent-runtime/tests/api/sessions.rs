//! SessionService: session lifecycle, listing, isolation between users, retention.

use crate::backend_tests;
use crate::helpers::*;
use codelab_proto::agent::v1 as pb;
use db_core::Backend;
use tonic::Code;

backend_tests!(
    session_lifecycle,
    list_sessions_pages_with_tokens,
    users_only_see_their_own_sessions,
    cleanup_sessions_is_admin_only_and_dry_by_default,
    purging_a_session_larger_than_one_chunk_removes_it_all_and_nothing_else
);

async fn session_lifecycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    let created = s
        .create_session(pb::CreateSessionRequest {
            session_id: "s-1".into(),
            title: "Refactor".into(),
            description: "d".into(),
            metadata_json: r#"{"project":"codelab"}"#.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            created.owner.as_str(),
            created.title.as_str(),
            created.is_active
        ),
        ("alice", "Refactor", true)
    );
    let meta: serde_json::Value = serde_json::from_str(&created.metadata_json).unwrap();
    assert_eq!(meta["project"], "codelab");

    let dup = s
        .create_session(pb::CreateSessionRequest {
            session_id: "s-1".into(),
            ..Default::default()
        })
        .await;
    assert_status(dup, Code::AlreadyExists, None);
    let generated = create(&mut s, "").await;
    assert_eq!(
        uuid::Uuid::parse_str(&generated.session_id)
            .unwrap()
            .get_version_num(),
        7
    );

    let bad = s
        .create_session(pb::CreateSessionRequest {
            session_id: "bad id".into(),
            ..Default::default()
        })
        .await;
    assert_status(bad, Code::InvalidArgument, Some("session_id"));
    let bad = s
        .create_session(pb::CreateSessionRequest {
            session_id: "x".into(),
            metadata_json: "{".into(),
            ..Default::default()
        })
        .await;
    assert_status(bad, Code::InvalidArgument, Some("metadata_json"));

    let deleted = s
        .delete_session(pb::DeleteSessionRequest {
            session_id: "s-1".into(),
            hard: false,
        })
        .await
        .unwrap();
    let deleted = deleted
        .into_inner()
        .session
        .expect("soft delete returns the session");
    assert!(deleted.deleted_at.is_some() && !deleted.is_active);
    assert_status(
        s.get_session(pb::GetSessionRequest {
            session_id: "s-1".into(),
            include_deleted: false,
        })
        .await,
        Code::NotFound,
        None,
    );
    let seen = s
        .get_session(pb::GetSessionRequest {
            session_id: "s-1".into(),
            include_deleted: true,
        })
        .await
        .unwrap();
    assert!(seen.into_inner().deleted_at.is_some());
    let writes = s
        .append_messages(pb::AppendMessagesRequest {
            session_id: "s-1".into(),
            messages: vec![user("hi")],
            create_if_missing: false,
        })
        .await;
    assert_status(writes, Code::FailedPrecondition, None);

    let back = s
        .undelete_session(pb::UndeleteSessionRequest {
            session_id: "s-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(back.is_active && back.deleted_at.is_none());
    assert_status(
        s.undelete_session(pb::UndeleteSessionRequest {
            session_id: "s-1".into(),
        })
        .await,
        Code::FailedPrecondition,
        None,
    );

    append(&mut s, "s-1", vec![user("hello"), assistant("hi")]).await;
    let gone = s
        .delete_session(pb::DeleteSessionRequest {
            session_id: "s-1".into(),
            hard: true,
        })
        .await
        .unwrap();
    assert!(gone.into_inner().session.is_none());
    assert_status(
        s.get_session(pb::GetSessionRequest {
            session_id: "s-1".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    // The id is free again: cascade removed everything.
    assert_eq!(create(&mut s, "s-1").await.message_count, 0);
}

async fn list_sessions_pages_with_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut s = app.sessions(&alice());
    for i in 0..7 {
        append(
            &mut s,
            &format!("p-{i}"),
            vec![user(&format!("question {i}"))],
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .list_sessions(pb::ListSessionsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 7);
        assert!(page.sessions.len() <= 3);
        seen.extend(page.sessions.into_iter().map(|x| x.session_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // Newest activity first: p-6 was written last.
    assert_eq!(
        seen,
        (0..7).rev().map(|i| format!("p-{i}")).collect::<Vec<_>>()
    );

    let first = s
        .list_sessions(pb::ListSessionsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let foreign = s
        .list_sessions(pb::ListSessionsRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
            include_deleted: true,
            ..Default::default()
        })
        .await;
    assert_status(foreign, Code::InvalidArgument, Some("page_token"));
    let mut tampered = first.next_page_token.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = s
        .list_sessions(pb::ListSessionsRequest {
            page_size: 2,
            page_token: String::from_utf8(tampered).unwrap(),
            ..Default::default()
        })
        .await;
    assert_status(tampered, Code::InvalidArgument, Some("page_token"));
    assert_status(
        s.list_sessions(pb::ListSessionsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    // Bob's token cannot continue Alice's listing.
    let bob_try = app
        .sessions(&bob())
        .list_sessions(pb::ListSessionsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await;
    assert_status(bob_try, Code::InvalidArgument, Some("page_token"));
}

async fn users_only_see_their_own_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = app.sessions(&alice());
    let mut b = app.sessions(&bob());
    append(&mut a, "alice-1", vec![user("secret plan")]).await;

    assert_status(
        b.get_session(pb::GetSessionRequest {
            session_id: "alice-1".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    assert_status(
        b.delete_session(pb::DeleteSessionRequest {
            session_id: "alice-1".into(),
            hard: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    assert_status(
        b.list_messages(pb::ListMessagesRequest {
            session_id: "alice-1".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        None,
    );
    let hijack = b
        .append_messages(pb::AppendMessagesRequest {
            session_id: "alice-1".into(),
            messages: vec![user("x")],
            create_if_missing: true,
        })
        .await;
    assert_status(hijack, Code::NotFound, None);
    assert_status(
        b.get_session_stats(pb::GetSessionStatsRequest {
            session_id: "alice-1".into(),
        })
        .await,
        Code::NotFound,
        None,
    );
    let listed = b
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 0);

    // Alice's session is untouched; an administrator sees it.
    let stats = a
        .get_session_stats(pb::GetSessionStatsRequest {
            session_id: "alice-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.message_count, 1);
    let all = app
        .sessions(&admin())
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.sessions
            .iter()
            .map(|x| x.owner.as_str())
            .collect::<Vec<_>>(),
        vec!["alice"]
    );
}

async fn cleanup_sessions_is_admin_only_and_dry_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = app.sessions(&alice());
    append(&mut a, "old", vec![user("x")]).await;
    a.delete_session(pb::DeleteSessionRequest {
        session_id: "old".into(),
        hard: false,
    })
    .await
    .unwrap();
    append(&mut a, "live", vec![user("y")]).await;

    let denied = a
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: 1,
            ..Default::default()
        })
        .await;
    assert_status(denied, Code::PermissionDenied, None);

    let mut root = app.sessions(&admin());
    let bad = root
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: -1,
            ..Default::default()
        })
        .await;
    assert_status(bad, Code::InvalidArgument, Some("inactive_hours"));
    // Nothing is old enough yet.
    let report = root
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: 1,
            purge_deleted_days: 1,
            dry_run: Some(false),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.soft_deleted, report.purged), (0, 0));

    // Make both sessions old by writing their timestamps back in time.
    age_sessions(&app, 3).await;
    let dry = root
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: 24,
            purge_deleted_days: 2,
            dry_run: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(dry.dry_run);
    assert_eq!((dry.soft_deleted, dry.purged), (1, 1));
    assert!(
        a.get_session(pb::GetSessionRequest {
            session_id: "live".into(),
            include_deleted: false
        })
        .await
        .is_ok()
    );

    let done = root
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: 24,
            purge_deleted_days: 2,
            dry_run: Some(false),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (done.soft_deleted, done.purged, done.dry_run),
        (1, 1, false)
    );
    assert_status(
        a.get_session(pb::GetSessionRequest {
            session_id: "old".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    let live = a
        .get_session(pb::GetSessionRequest {
            session_id: "live".into(),
            include_deleted: true,
        })
        .await
        .unwrap();
    assert!(live.into_inner().deleted_at.is_some());
}

/// Moves every session's `last_activity` and `deleted_at` `days` days into the past.
async fn purging_a_session_larger_than_one_chunk_removes_it_all_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = app.sessions(&alice());
    append(&mut a, "keep", vec![user("a"), assistant("b"), user("c")]).await;
    // More messages than one purge chunk (1,000), in appends of at most 1,000.
    for (id, sizes) in [("big", [1_000, 1_000, 500]), ("old", [1_000, 200, 0])] {
        for n in sizes.into_iter().filter(|&n| n > 0) {
            append(&mut a, id, (0..n).map(|i| user(&format!("m{i}"))).collect()).await;
        }
    }

    // A hard delete removes every message of "big" in one operation.
    a.delete_session(pb::DeleteSessionRequest {
        session_id: "big".into(),
        hard: true,
    })
    .await
    .unwrap();
    assert_status(
        a.get_session(pb::GetSessionRequest {
            session_id: "big".into(),
            include_deleted: true,
        })
        .await,
        Code::NotFound,
        None,
    );
    assert_eq!(message_rows(&app).await, 3 + 1_200);

    // Retention purges the soft-deleted "old" the same way.
    a.delete_session(pb::DeleteSessionRequest {
        session_id: "old".into(),
        hard: false,
    })
    .await
    .unwrap();
    age_sessions(&app, 3).await;
    let report = app
        .sessions(&admin())
        .cleanup_sessions(pb::CleanupSessionsRequest {
            inactive_hours: 0,
            purge_deleted_days: 2,
            dry_run: Some(false),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.purged, report.soft_deleted), (1, 0));
    assert_eq!(message_rows(&app).await, 3);
    let kept = walk(&mut a, "keep", 10).await;
    assert_eq!(
        kept.iter()
            .map(|m| (m.seq, m.content.as_deref().unwrap_or("")))
            .collect::<Vec<_>>(),
        vec![(1, "a"), (2, "b"), (3, "c")]
    );
}

/// Rows in `messages`, of every session, read straight from the database.
async fn message_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = direct_connection(app).await;
    use agent_runtime::schema::messages;
    db_core::with_connection!(conn, |c| {
        messages::table.count().get_result(c).await.unwrap()
    })
}

async fn age_sessions(app: &TestApp, days: i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let mut conn = direct_connection(app).await;
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::days(days);
    use agent_runtime::schema::sessions;
    db_core::with_connection!(conn, |c| {
        diesel::update(sessions::table)
            .set(sessions::last_activity.eq(past))
            .execute(c)
            .await
            .unwrap();
        diesel::update(sessions::table.filter(sessions::deleted_at.is_not_null()))
            .set(sessions::deleted_at.eq(Some(past)))
            .execute(c)
            .await
            .unwrap();
    });
}

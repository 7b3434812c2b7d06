"""Retrieval: two-tower towers, negative samplers and objectives, full-corpus metrics, top-K export.

    from zoo.data import movielens_retrieval
    from zoo.retrieval.export import export_retrieval_model
    from zoo.retrieval.metrics import full_corpus_metrics
    from zoo.retrieval.samplers import CodebookRefresh

    split = movielens_retrieval.load("../shared/data/movielens-latest-small")
    model = zoo.create("two_tower", split.spec, candidate_id="movie_id", query_features=("user_id", "history"),
                       candidate_features=("movie_id", "genres"), objective="midx")
    model.set_corpus(split.corpus)                      # the items negatives are drawn from and indexed
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train_dataset, epochs=2, callbacks=[CodebookRefresh(50)])
    full_corpus_metrics(model.encoder.embed_query(split.test_queries), model.embed_corpus(),
                        split.corpus["movie_id"], split.test_relevant, exclude=split.test_seen)
    export_retrieval_model(model, "serving/movies/1", k=100)   # then: zoo serve --model_base_path serving/movies
"""

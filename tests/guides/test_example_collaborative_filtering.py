"""keras-io example "Collaborative Filtering for Movie Recommendations"
(examples/structured_data/collaborative_filtering_movielens.py, the Keras 3 version with ``ops.tensordot``), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the subclassed ``RecommenderNet`` (four
``Embedding`` layers, two of them with ``he_normal`` and an L2 regularizer), its outputs from the same weights, the
training run (deterministic: no dropout, ``shuffle=False``) epoch by epoch, and the top-10 recommendations, on
synthetic MovieLens-shaped ratings (no download; pandas' CSV handling is replaced by numpy)."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries

EMBEDDING_SIZE = 50


def recommender_class(keras, layers, ops):
    class RecommenderNet(keras.Model):
        def __init__(self, num_users, num_movies, embedding_size, **kwargs):
            super().__init__(**kwargs)
            self.num_users = num_users
            self.num_movies = num_movies
            self.embedding_size = embedding_size
            self.user_embedding = layers.Embedding(num_users, embedding_size, embeddings_initializer="he_normal",
                                                   embeddings_regularizer=keras.regularizers.l2(1e-6))
            self.user_bias = layers.Embedding(num_users, 1)
            self.movie_embedding = layers.Embedding(num_movies, embedding_size, embeddings_initializer="he_normal",
                                                    embeddings_regularizer=keras.regularizers.l2(1e-6))
            self.movie_bias = layers.Embedding(num_movies, 1)

        def call(self, inputs):
            user_vector = self.user_embedding(inputs[:, 0])
            user_bias = self.user_bias(inputs[:, 0])
            movie_vector = self.movie_embedding(inputs[:, 1])
            movie_bias = self.movie_bias(inputs[:, 1])
            # As in the example: tensordot over both axes sums the user-movie products over the whole batch.
            dot_user_movie = ops.tensordot(user_vector, movie_vector, 2)
            x = dot_user_movie + user_bias + movie_bias
            return ops.nn.sigmoid(x)

    return RecommenderNet


def make_model(keras, layers, ops, num_users, num_movies):
    fresh(keras)
    model = recommender_class(keras, layers, ops)(num_users, num_movies, EMBEDDING_SIZE)
    model.compile(loss=keras.losses.BinaryCrossentropy(), optimizer=keras.optimizers.Adam(learning_rate=0.001))
    return model


def movielens_like(seed=0, num_ratings=600):
    """ratings.csv's columns (userId, movieId, rating) with non-consecutive ids and half-star ratings from 0.5 to
    5, preprocessed as the example does: ids encoded as indices, the rows shuffled, the ratings scaled to [0, 1], a
    90% / 10% split."""
    rng = np.random.default_rng(seed)
    user_id_pool, movie_id_pool = rng.choice(1000, 40, replace=False) + 1, rng.choice(5000, 90, replace=False) + 1
    taste = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 90))  # some structure to learn
    users, movies = rng.integers(0, 40, num_ratings), rng.integers(0, 90, num_ratings)
    ratings = np.clip(np.round((2.75 + taste[users, movies]) * 2) / 2, 0.5, 5.0).astype(np.float32)
    user_ids_col, movie_ids_col = user_id_pool[users], movie_id_pool[movies]

    user_ids = list(dict.fromkeys(user_ids_col.tolist()))  # df["userId"].unique().tolist()
    user2user_encoded = {x: i for i, x in enumerate(user_ids)}
    movie_ids = list(dict.fromkeys(movie_ids_col.tolist()))
    movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
    movie_encoded2movie = {i: x for i, x in enumerate(movie_ids)}
    user = np.array([user2user_encoded[u] for u in user_ids_col])
    movie = np.array([movie2movie_encoded[m] for m in movie_ids_col])
    num_users, num_movies = len(user2user_encoded), len(movie_encoded2movie)
    min_rating, max_rating = min(ratings), max(ratings)

    order = rng.permutation(num_ratings)  # df.sample(frac=1, random_state=42)
    x = np.stack([user, movie], axis=1)[order]
    y = ((ratings - min_rating) / (max_rating - min_rating))[order]
    train_indices = int(0.9 * num_ratings)
    split = (x[:train_indices], x[train_indices:], y[:train_indices], y[train_indices:])
    encoders = dict(user_ids_col=user_ids_col[order], movie_ids_col=movie_ids_col[order], movie_ids=movie_ids,
                    user2user_encoded=user2user_encoded, movie2movie_encoded=movie2movie_encoded,
                    movie_encoded2movie=movie_encoded2movie)
    return num_users, num_movies, split, encoders


def built_pair(real_keras, num_users, num_movies, x):
    ours, theirs = [make_model(*lib, num_users, num_movies) for lib in libraries(real_keras)]
    for model in (ours, theirs):
        model(x[:2])  # a subclassed model makes its weights on its first call
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()] == [
        (num_users, EMBEDDING_SIZE), (num_users, 1), (num_movies, EMBEDDING_SIZE), (num_movies, 1)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_outputs_from_the_same_weights_match_keras(real_keras):
    num_users, num_movies, (x_train, _, _, _), _ = movielens_like()
    ours, theirs = built_pair(real_keras, num_users, num_movies, x_train)
    assert ours.count_params() == theirs.count_params() == (num_users + num_movies) * (EMBEDDING_SIZE + 1)
    batch = x_train[:16]
    assert_close(as_numpy(ours(batch)), as_numpy(theirs(batch)), rtol=1e-5, atol=1e-6)
    assert as_numpy(ours(batch)).shape == (16, 1)
    # The regularizers' penalty on the embeddings the batch used, as Keras adds it to the loss.
    assert len(ours.losses) == len(theirs.losses) == 2
    assert_close(sum(float(as_numpy(v)) for v in ours.losses), sum(float(as_numpy(v)) for v in theirs.losses),
                 rtol=1e-5)
    assert_close(ours.predict(x_train, verbose=0), as_numpy(theirs.predict(x_train, verbose=0)), rtol=1e-5,
                 atol=1e-6)


def test_he_normal_embeddings_are_drawn_as_in_keras(real_keras):
    # he_normal: a normal truncated at two standard deviations, scaled so that the values' standard deviation is
    # sqrt(2 / fan_in), fan_in being the number of rows. Random draws differ between the libraries (README).
    stats = []
    real_keras.utils.set_random_seed(0)  # torch's and Keras' seeds: the statistical bounds below cannot flicker
    for lib in libraries(real_keras):
        model = make_model(*lib, 300, 400)
        model(np.array([[0, 0]]))
        user_embeddings, user_bias = model.user_embedding.get_weights()[0], model.user_bias.get_weights()[0]
        stats.append((user_embeddings.std(), np.abs(user_embeddings).max(), np.abs(user_bias).max()))
        assert abs(user_embeddings.std() - np.sqrt(2 / 300)) < 0.03 * np.sqrt(2 / 300)
        assert np.abs(user_embeddings).max() <= 2 * np.sqrt(2 / 300) / 0.87962566103423978 + 1e-6
        assert np.abs(user_bias).max() <= 0.05  # the default uniform(-0.05, 0.05)
    assert_close(stats[0], stats[1], rtol=0.05)


def test_training_matches_keras_epoch_by_epoch(real_keras):
    # The example's batch_size=64 and 5 epochs on 540 + 60 ratings (the example: about 100,000), without shuffling.
    num_users, num_movies, (x_train, x_val, y_train, y_val), _ = movielens_like()
    ours, theirs = built_pair(real_keras, num_users, num_movies, x_train)
    histories = [model.fit(x=x_train, y=y_train, batch_size=64, epochs=5, verbose=0, shuffle=False,
                           validation_data=(x_val, y_val)).history for model in (ours, theirs)]
    assert sorted(histories[0]) == sorted(histories[1]) == ["loss", "val_loss"]
    for key in ("loss", "val_loss"):
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]
    for mine, theirs_ in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(mine, theirs_, rtol=1e-3, atol=1e-5)


def test_top_10_recommendations_match_keras(real_keras):
    num_users, num_movies, (x_train, x_val, y_train, y_val), enc = movielens_like()
    ours, theirs = built_pair(real_keras, num_users, num_movies, x_train)
    for model in (ours, theirs):
        model.fit(x=x_train, y=y_train, batch_size=64, epochs=2, verbose=0, shuffle=False)
    # The example picks a random user; here the first one, and the movies it has not rated.
    user_id = enc["user_ids_col"][0]
    movies_watched_by_user = set(enc["movie_ids_col"][enc["user_ids_col"] == user_id].tolist())
    movies_not_watched = [m for m in enc["movie_ids"] if m not in movies_watched_by_user]
    movies_not_watched = list(set(movies_not_watched).intersection(set(enc["movie2movie_encoded"].keys())))
    movies_not_watched = [[enc["movie2movie_encoded"].get(x)] for x in movies_not_watched]
    user_encoder = enc["user2user_encoded"].get(user_id)
    user_movie_array = np.hstack(([[user_encoder]] * len(movies_not_watched), movies_not_watched))
    recommended = []
    for model in (ours, theirs):
        ratings = as_numpy(model.predict(user_movie_array, verbose=0)).flatten()
        assert ratings.shape == (len(movies_not_watched),) and ((ratings > 0) & (ratings < 1)).all()
        top_ratings_indices = ratings.argsort()[-10:][::-1]
        recommended.append(([enc["movie_encoded2movie"].get(movies_not_watched[x][0]) for x in top_ratings_indices],
                            ratings))
    assert_close(recommended[0][1], recommended[1][1], rtol=1e-4, atol=1e-6)
    assert recommended[0][0] == recommended[1][0] and len(set(recommended[0][0])) == 10
    assert not set(recommended[0][0]) & movies_watched_by_user

#pragma once
// What the indexing stages (core/engine/indexing/) share: the log category, the catalog
// markers they agree on, how a stage reports a failure that stops the job, and how an
// exception becomes a sentence. Private to core/engine.
#include <QString>

#include <exception>
#include <utility>

namespace unisearch::engine::indexing {

inline const QString logCategory = QStringLiteral("index");

// The prefix of an item's error that marks a read failure: those are retried on every
// run, since permissions or a mount may have been fixed without touching the file.
inline const QString readErrorPrefix = QStringLiteral("cannot read the file");
// The catalog meta key of the model whose pass last completed (see plan.h, indexstate.cpp).
inline const QString indexedModelKey = QStringLiteral("index/model");

// A stage's answer where a failure stops the job (the catalog cannot be written, the
// model failed): ok, or the sentence the job fails with. A bad file is never such a
// failure: it is recorded in its Processed record (record.h) and the job goes on.
struct Status {
    bool ok = true;
    QString error;

    static Status failure(QString message) { return {false, std::move(message)}; }
};

// What an exception means, for a message a person reads. QtConcurrent hands on anything
// but a QException wrapped in a QUnhandledException, whose what() says only
// "std::exception": the exception inside is described instead. The standard library's
// own what() strings ("std::bad_alloc") are put into words.
QString describeException(const std::exception_ptr &error);

} // namespace unisearch::engine::indexing

#pragma once
// The model manager (Model ▸ Manage Models…): the imported models, importing a checkpoint,
// downloading a known model from the catalogue (progress, cancel, resume), the active
// model per task, and the compute settings the engine reads (device, precision, threads).
// A non-modal dialog: imports and downloads run off the GUI thread (the network is
// asynchronous; reading and checking a checkpoint runs on a worker thread), and the
// catalog is touched on the GUI thread only.
#include <QDialog>
#include <QHash>
#include <QPointer>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTreeWidget;

namespace unisearch::engine {
class Engine;
class ModelDownload;
struct ModelInfo;
}

namespace unisearch::ui {

class ModelImporter;

class ModelManagerDialog : public QDialog
{
    Q_OBJECT
public:
    explicit ModelManagerDialog(engine::Engine *engine, QWidget *parent = nullptr);
    ~ModelManagerDialog() override;  // cancels a download (its part stays), waits for an import

    // Imports a checkpoint on a worker thread under a free name (the file's base name,
    // else base-2, ...). Returns false when it could not start (the reason is shown).
    bool startImport(const QString &checkpoint);
    bool isImporting() const;
    // Downloads (or resumes) the catalogue entry of that name. False when it could not start.
    bool startDownload(const QString &name);
    bool isDownloading() const;
    // The catalogue could not be read: why (empty when it was).
    QString catalogueError() const { return m_catalogueError; }

signals:
    void importFinished(bool ok, const QString &message);
    void downloadFinished(const QString &name, bool ok, const QString &message);

public slots:
    // Re-reads the models, the catalogue's state and the settings.
    void refresh();

private:
    QWidget *createModelsBox();
    QWidget *createImportBox();
    QWidget *createDownloadBox();
    QWidget *createComputeBox();
    void fillActiveCombo(QComboBox *combo, const QString &task);
    void activateFromCombo(QComboBox *combo);
    void browseForCheckpoint();
    void finishImport(bool ok, const QString &error, const engine::ModelInfo &model);
    void downloadSelected();
    void cancelDownload();
    void discardSelected();
    void updateDownloadButtons();
    void onDownloadProgress();
    void onDownloadFinished(engine::ModelDownload *job, bool ok);
    void saveComputeSettings();
    void setMessage(const QString &text, bool error);
    engine::ModelDownload *selectedDownload() const;

    engine::Engine *m_engine;

    QTreeWidget *m_models = nullptr;
    QComboBox *m_activeRetrieval = nullptr;
    QComboBox *m_activeVqa = nullptr;

    QLineEdit *m_importPath = nullptr;
    QPushButton *m_browseButton = nullptr;
    QPushButton *m_importButton = nullptr;
    QProgressBar *m_importProgress = nullptr;

    QTreeWidget *m_catalogue = nullptr;
    QPushButton *m_downloadButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QPushButton *m_discardButton = nullptr;
    QProgressBar *m_downloadProgress = nullptr;
    QLabel *m_downloadLabel = nullptr;
    QString m_catalogueError;
    QHash<QString, engine::ModelDownload *> m_downloads;  // by catalogue name; children
    QPointer<engine::ModelDownload> m_running;

    QComboBox *m_device = nullptr;
    QComboBox *m_precision = nullptr;
    QSpinBox *m_threads = nullptr;

    QLabel *m_message = nullptr;

    ModelImporter *m_importer = nullptr;
};

} // namespace unisearch::ui

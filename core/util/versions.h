#pragma once
// compatibility: remove when ui/mainwindow.cpp includes engine/versions.h
#include "engine/versions.h"
namespace unisearch { using engine::libraryVersions; }

#pragma once
int runVideoBench(int argc, char **argv);

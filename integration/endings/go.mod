module endings

go 1.19
